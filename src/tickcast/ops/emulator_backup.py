"""Export, wipe and import of the Firestore emulator: the restore drill (docs/OPERATIONS.md).

The emulator's own REST admin endpoints, not a copy made with the client:
`POST /emulator/v1/projects/{p}:export` with `database` and `export_directory`
(an existing directory) writes a Firestore export (an `.overall_export_metadata`
file beside its data, the layout `gcloud firestore export` writes) and
`DELETE /emulator/v1/projects/{p}/databases/(default)/documents` wipes every
document. The emulator has no runtime import that we found: an export is
loaded by starting an emulator with `--import-data=<metadata file>`, which is
what `import_argv` adds. In the cloud the same steps are `gcloud firestore
export` / `gcloud firestore import` (or a restore from a scheduled backup).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from tickcast.errors import TickcastError


def _call(method: str, host: str, path: str, body: object, timeout_s: float) -> None:
    req = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            r.read()
    except urllib.error.HTTPError as exc:
        raise TickcastError(
            f"emulator {method} {path}: {exc.code} {exc.read().decode(errors='replace')}"
        ) from None


def export(host: str, project: str, directory: Path, timeout_s: float = 60.0) -> Path:
    """Export every document to `directory`; returns the export's metadata file."""
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.glob("*/*.overall_export_metadata"))
    body = {
        "database": f"projects/{project}/databases/(default)",
        "export_directory": str(directory.resolve()),
    }
    _call("POST", host, f"{project}:export", body, timeout_s)
    made = sorted(set(directory.glob("*/*.overall_export_metadata")) - before)
    if len(made) != 1:
        raise TickcastError(f"emulator export wrote {len(made)} metadata files in {directory}")
    return made[0]


def wipe(host: str, project: str, timeout_s: float = 60.0) -> None:
    """Delete every document of the emulator's (default) database."""
    _call("DELETE", host, f"{project}/databases/(default)/documents", None, timeout_s)


def import_argv(emulator_argv: list[str], metadata: Path) -> list[str]:
    """The emulator's command line, loading `metadata` (from `export`) as it starts."""
    return [*emulator_argv, f"--import-data={metadata.resolve()}"]
