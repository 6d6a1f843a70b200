"""Where models live: `builtin:NAME`, a local path (or `file://`), or `gs://bucket/path`.

`builtin:NAME` is `src/tickcast/models/NAME.json`, committed and shipped with
the code. `gs://` reads through google-cloud-storage, imported on first use
(only predict needs it, and only when a model lives in a bucket).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from tickcast.errors import TickcastError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelUriError(TickcastError):
    """A model URI that cannot be parsed or read."""


@dataclass(frozen=True)
class ModelUri:
    scheme: Literal["builtin", "file", "gs"]
    path: str  # builtin: the name; file: a filesystem path; gs: the object name
    bucket: str = ""


def parse_uri(uri: str) -> ModelUri:
    uri = uri.strip()
    if uri.startswith("builtin:"):
        name = uri.removeprefix("builtin:")
        if not _NAME_RE.fullmatch(name):
            raise ModelUriError(f"{uri!r}: a builtin name is letters, digits, '.', '_', '-'")
        return ModelUri("builtin", name)
    if uri.startswith("gs://"):
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if not bucket or not name or name.endswith("/"):
            raise ModelUriError(f"{uri!r}: expected gs://BUCKET/PATH/TO/MODEL.json")
        return ModelUri("gs", name, bucket)
    if uri.startswith("file://"):
        uri = uri.removeprefix("file://")
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri):
        raise ModelUriError(f"{uri!r}: unsupported scheme (use builtin:, gs:// or a path)")
    if not uri:
        raise ModelUriError("empty model URI")
    return ModelUri("file", uri)


def with_json(uri: str) -> str:
    """A model URI names the artifact's .json; the suffix may be left out."""
    return uri if uri.endswith(".json") else uri + ".json"


def resolve(base: str, target: str) -> str:
    """`target` as written in a pointer at `base`: relative targets sit beside the pointer."""
    if target.startswith(("builtin:", "gs://", "file://", "/")):
        return target
    b = parse_uri(base)
    if b.scheme == "gs":
        return f"gs://{b.bucket}/{posixpath.join(posixpath.dirname(b.path), target)}"
    if b.scheme == "builtin":
        return f"builtin:{target}"
    return str(Path(b.path).parent / target)


def read_bytes(uri: str) -> bytes:
    u = parse_uri(uri)
    if u.scheme == "gs":
        return _gcs().bucket(u.bucket).blob(u.path).download_as_bytes()  # type: ignore[no-any-return]
    path = MODELS_DIR / u.path if u.scheme == "builtin" else Path(u.path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelUriError(f"{uri}: {exc.strerror or exc}") from None


@cache
def _gcs() -> Any:
    try:
        from google.cloud import storage  # type: ignore[attr-defined]
    except ImportError:
        raise ModelUriError(
            "gs:// model URIs need the google-cloud-storage package: pip install google-cloud-storage"
        ) from None
    return storage.Client()
