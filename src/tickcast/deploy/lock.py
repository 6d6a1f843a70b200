"""requirements.lock: every package tickcast installs, pinned with hashes.

One lock, made by uv (`uv pip compile --generate-hashes`) from pyproject.toml
with the dev extra, for the platform the functions run on (CPython 3.11,
x86_64 Linux). It is used three ways:

- `make` installs the virtualenv from it (`pip install --require-hashes -r
  requirements.lock`, then `pip install -e . --no-deps`);
- `tickcast stage` writes each function's and the bridge's requirements.txt
  from it: the runtime closure of [project] dependencies, hashes included
  (`runtime_requirements`);
- the bridge's Dockerfile installs that file with `--require-hashes`.

The first line records a digest of what the lock was compiled from (the
dependency lists of pyproject.toml and the target); `stale()` compares it, so
a dependency edited without `make lock` fails the tests and staging.

    python -m tickcast.deploy.lock            # recompile, keeping current pins
    python -m tickcast.deploy.lock --upgrade  # move every pin to the newest allowed
    python -m tickcast.deploy.lock --check    # exit 1 when stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickcast.errors import TickcastError

LOCK = "requirements.lock"
# Cloud Functions' python311 runtime and the bridge image (python:3.11-slim) are
# CPython 3.11 on x86_64 Linux.
PYTHON = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
EXTRAS = ("dev",)
COMMAND = "python -m tickcast.deploy.lock"
_DIGEST = re.compile(r"^# inputs-sha256: ([0-9a-f]{64})$", re.M)
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class LockError(TickcastError):
    """requirements.lock is missing, stale or cannot be made."""


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _project(pyproject: Path) -> dict[str, Any]:
    try:
        project: dict[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise LockError(f"{pyproject}: cannot read [project] ({exc})") from None
    return project


def inputs_digest(pyproject: Path) -> str:
    """What the lock depends on: the dependency lists, requires-python and the target."""
    p = _project(pyproject)
    inputs = {
        "requires-python": p.get("requires-python"),
        "dependencies": p.get("dependencies", []),
        "optional-dependencies": p.get("optional-dependencies", {}),
        "extras": list(EXTRAS),
        "python": PYTHON,
        "platform": PLATFORM,
    }
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def runtime_roots(pyproject: Path) -> set[str]:
    """Canonical names of [project] dependencies (what the deployed code imports)."""
    out = set()
    for spec in _project(pyproject).get("dependencies", []):
        m = _NAME.match(spec)
        if m is None:
            raise LockError(f"{pyproject}: cannot parse dependency {spec!r}")
        out.add(canonical(m.group(1)))
    return out


@dataclass
class Entry:
    name: str  # canonical
    version: str
    text: str  # "name==version \\\n    --hash=... " (no comments)
    via: set[str] = field(default_factory=set)  # canonical parents; "tickcast" for pyproject


def read(lock: Path) -> dict[str, Entry]:
    """The lock's entries by canonical name."""
    try:
        text = lock.read_text(encoding="utf-8")
    except OSError as exc:
        raise LockError(f"{lock}: {exc.strerror}; run `make lock`") from None
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    in_via = False
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m:
            current = Entry(canonical(m.group(1)), m.group(2), line.rstrip())
            entries[current.name] = current
            in_via = False
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("--hash="):
            current.text += "\n" + line.rstrip()
        elif stripped.startswith("# via"):
            rest = stripped[len("# via") :].strip()
            in_via = not rest
            if rest:
                current.via.add(_parent(rest))
        elif in_via and stripped.startswith("#   "):
            current.via.add(_parent(stripped[4:]))
        else:
            in_via = False
    return entries


def _parent(text: str) -> str:
    return "tickcast" if text.startswith("tickcast (") else canonical(text.split()[0])


def stale(repo_root: Path) -> str | None:
    """Why requirements.lock does not match pyproject.toml, or None."""
    lock = repo_root / LOCK
    try:
        head = lock.read_text(encoding="utf-8")[:4096]
    except OSError:
        return f"{LOCK} is missing: run `make lock`"
    m = _DIGEST.search(head)
    want = inputs_digest(repo_root / "pyproject.toml")
    if m is None:
        return f"{LOCK} has no inputs-sha256 line: run `make lock`"
    if m.group(1) != want:
        return f"{LOCK} is stale (pyproject.toml's dependencies changed): run `make lock`"
    entries = read(lock)
    missing = sorted(runtime_roots(repo_root / "pyproject.toml") - set(entries))
    if missing:
        return f"{LOCK} lacks {', '.join(missing)}: run `make lock`"
    return None


def runtime_closure(entries: dict[str, Entry], roots: set[str]) -> list[Entry]:
    """The roots and everything the resolver pulled in for them (by `# via` parents)."""
    missing = sorted(roots - set(entries))
    if missing:
        raise LockError(f"{LOCK} lacks {', '.join(missing)}: run `make lock`")
    keep = set(roots)
    changed = True
    while changed:
        changed = False
        for e in entries.values():
            if e.name not in keep and e.via & keep:
                keep.add(e.name)
                changed = True
    return [entries[n] for n in sorted(keep)]


def runtime_requirements(repo_root: Path) -> str:
    """requirements.txt for the deployed code: the runtime closure, pinned with hashes."""
    reason = stale(repo_root)
    if reason:
        raise LockError(reason)
    entries = read(repo_root / LOCK)
    closure = runtime_closure(entries, runtime_roots(repo_root / "pyproject.toml"))
    header = (
        f"# Generated by `tickcast stage` from {LOCK}: pyproject.toml's runtime dependencies\n"
        "# and everything they need, pinned with hashes (pip installs it in hash-checking mode).\n"
    )
    return header + "".join(f"{e.text}\n" for e in closure)


def compile_lock(repo_root: Path, *, upgrade: bool = False) -> Path:
    """Run uv and stamp the inputs digest; existing pins are kept unless upgrade."""
    cmd = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        *(a for extra in EXTRAS for a in ("--extra", extra)),
        "--generate-hashes",
        "--python-version",
        PYTHON,
        "--python-platform",
        PLATFORM,
        "--custom-compile-command",
        COMMAND,
        "--quiet",
        "-o",
        LOCK,
        *(["--upgrade"] if upgrade else []),
    ]
    proc = subprocess.run(
        cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        raise LockError(f"uv pip compile failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
    lock = repo_root / LOCK
    body = _DIGEST.sub("", lock.read_text(encoding="utf-8")).lstrip("\n")
    digest = inputs_digest(repo_root / "pyproject.toml")
    lock.write_text(f"# inputs-sha256: {digest}\n{body}", encoding="utf-8")
    return lock


def _root() -> Path:
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "pyproject.toml").is_file() and (d / "src" / "tickcast").is_dir():
            return d
    raise LockError("no tickcast checkout at or above the current directory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickcast.deploy.lock", description=__doc__)
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions")
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    args = parser.parse_args(argv)
    try:
        root = _root()
        if args.check:
            reason = stale(root)
            print(reason or f"{LOCK} is up to date")
            return 1 if reason else 0
        print(compile_lock(root, upgrade=args.upgrade))
    except LockError as exc:
        print(f"lock: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
