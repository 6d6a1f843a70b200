"""`tickcast stage`: what Terraform zips and Docker builds.

Every Cloud Functions source must be self-contained, so shared code reaches
each function by copying, not by symlinks: `build/<name>/` gets the function's
`main.py`, a copy of `src/tickcast` and a `requirements.txt` taken from
requirements.lock: the runtime dependencies and everything they pull in,
each pinned with its hashes (tickcast.deploy.lock). `build/ws_bridge/` is the
bridge's image context: all of `functions/ws_bridge/` (its Dockerfile
included), plus the same two.

Staging runs only on the functions' runtime Python (python311 in
infra/terraform), and refuses a stale lock.

Output is deterministic, so a Terraform content hash only changes when the
code does: files are written in sorted order, with fixed modes and a fixed
mtime, and nothing in them depends on the time or the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from tickcast.deploy import lock
from tickcast.errors import TickcastError

BRIDGE = "ws_bridge"
# The Cloud Functions runtime (modules/event_function's `runtime` default); the
# bridge image is python:3.11-slim. tests/unit/deploy checks all three agree.
RUNTIME = "python311"
RUNTIME_VERSION = (3, 11)
# Written into every staged directory; only directories carrying it are ever deleted.
MANIFEST = ".tickcast-stage.json"
# 1980-01-01T00:00:00Z, the earliest time a zip entry can hold.
FIXED_MTIME = 315_532_800
_SKIP_DIRS = frozenset(
    {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"}
)
# Compiled extensions (the mypyc indicators) are built for this machine, not for
# Cloud Functions: staged source always runs the pure-Python modules.
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd")
_SKIP_FILES = frozenset({MANIFEST, ".native-stamp"})
# Benchmarks and load tools (tickcast.bench): run from a checkout, never deployed.
# Nothing a function or the bridge imports may live there (tests/unit/deploy).
NOT_DEPLOYED = ("tickcast/bench/",)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class StageError(TickcastError):
    """The checkout cannot be staged as asked."""


def function_names(repo_root: Path) -> list[str]:
    """Every event function: a directory under functions/ with a main.py (ws_bridge aside)."""
    root = repo_root / "functions"
    if not root.is_dir():
        raise StageError(f"{root}: no functions/ directory")
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and d.name != BRIDGE and _NAME_RE.match(d.name) and (d / "main.py").is_file()
    )


def stageable(repo_root: Path) -> list[str]:
    names = function_names(repo_root)
    if (repo_root / "functions" / BRIDGE).is_dir():
        names.append(BRIDGE)
    return names


def check_python(version: tuple[int, int] | None = None) -> None:
    """Refuse to stage on a Python other than the functions' runtime."""
    have = version or (sys.version_info.major, sys.version_info.minor)
    if have != RUNTIME_VERSION:
        raise StageError(
            f"this is Python {have[0]}.{have[1]}, but the functions run {RUNTIME} "
            f"(infra/terraform): stage with Python {RUNTIME_VERSION[0]}.{RUNTIME_VERSION[1]} "
            "(make bootstrap builds .venv with it)"
        )


def locked_requirements(repo_root: Path) -> str:
    """requirements.txt for every staged directory: the lock's runtime closure, with hashes."""
    try:
        return lock.runtime_requirements(repo_root)
    except lock.LockError as exc:
        raise StageError(str(exc)) from None


def _tree(src: Path, prefix: str) -> dict[str, Path]:
    """Files under src, keyed by their staged path, without caches or bytecode."""
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info")
        )
        for fn in sorted(filenames):
            if fn.endswith(_SKIP_SUFFIXES) or fn in _SKIP_FILES:
                continue
            path = Path(dirpath) / fn
            if path.is_file():
                out[f"{prefix}{path.relative_to(src).as_posix()}"] = path
    return out


def _contents(repo_root: Path, name: str, requirements: str) -> dict[str, bytes | Path]:
    fdir = repo_root / "functions" / name
    files: dict[str, bytes | Path] = {}
    if name == BRIDGE:
        files.update(_tree(fdir, ""))
    else:
        files["main.py"] = fdir / "main.py"
    package = {
        k: v
        for k, v in _tree(repo_root / "src" / "tickcast", "tickcast/").items()
        if not k.startswith(NOT_DEPLOYED)
    }
    clash = sorted(k for k in [*package, "requirements.txt"] if k in files)
    if clash:
        raise StageError(f"functions/{name} has {', '.join(clash)}, which staging generates")
    files.update(package)
    files["requirements.txt"] = requirements.encode()
    return files


def _is_executable(src: bytes | Path) -> bool:
    return isinstance(src, Path) and os.access(src, os.X_OK)


def _manifest(name: str, files: dict[str, bytes]) -> bytes:
    digests = {p: hashlib.sha256(data).hexdigest() for p, data in sorted(files.items())}
    return (json.dumps({"name": name, "files": digests}, indent=1, sort_keys=True) + "\n").encode()


def _clear(dest: Path) -> None:
    if not dest.exists():
        return
    if not dest.is_dir():
        raise StageError(f"{dest} exists and is not a directory")
    if any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise StageError(f"{dest} was not made by `tickcast stage`; refusing to delete it")
    shutil.rmtree(dest)


def _write(dest: Path, files: dict[str, bytes], modes: dict[str, int]) -> None:
    dest.mkdir(parents=True)
    for rel in sorted(files):
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
        path.chmod(modes.get(rel, 0o644))
    # Directories last (writing a file touches its directory), deepest first.
    for d in sorted(
        (p for p in dest.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    ):
        d.chmod(0o755)
        os.utime(d, (FIXED_MTIME, FIXED_MTIME))
    for rel in files:
        os.utime(dest / rel, (FIXED_MTIME, FIXED_MTIME))
    dest.chmod(0o755)
    os.utime(dest, (FIXED_MTIME, FIXED_MTIME))


def stage(
    repo_root: Path,
    out_dir: Path,
    names: Sequence[str] | None = None,
    *,
    python: tuple[int, int] | None = None,
) -> list[Path]:
    """Build out_dir/<name>/ for each name (default: every function and the bridge).

    Returns the staged directories in name order. Earlier output of a name is
    replaced whole; with names=None, staged directories of names that no
    longer exist are removed too.
    """
    available = stageable(repo_root)
    wanted = sorted(set(available if names is None else names))
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise StageError(
            f"nothing to stage for {', '.join(unknown)} (known: {', '.join(available)})"
        )
    check_python(python)
    requirements = locked_requirements(repo_root)

    staged = []
    for name in wanted:
        sources = _contents(repo_root, name, requirements)
        files = {
            rel: src if isinstance(src, bytes) else src.read_bytes() for rel, src in sources.items()
        }
        modes = {rel: 0o755 for rel, src in sources.items() if _is_executable(src)}
        files[MANIFEST] = _manifest(name, files)
        dest = out_dir / name
        _clear(dest)
        _write(dest, files, modes)
        staged.append(dest)

    if names is None and out_dir.is_dir():
        for child in sorted(out_dir.iterdir()):
            if child.is_dir() and child.name not in wanted and (child / MANIFEST).is_file():
                shutil.rmtree(child)
    return staged


def find_repo_root(start: Path) -> Path:
    for d in (start, *start.parents):
        if (
            (d / "pyproject.toml").is_file()
            and (d / "functions").is_dir()
            and (d / "src" / "tickcast").is_dir()
        ):
            return d
    raise StageError(
        f"no tickcast checkout (pyproject.toml, functions/, src/tickcast/) at or above {start}"
    )


def _names(values: Iterable[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def run(args: argparse.Namespace) -> int:
    root = (
        Path(args.repo_root).resolve() if args.repo_root else find_repo_root(Path.cwd().resolve())
    )
    out = Path(args.out)
    out = out if out.is_absolute() else root / out
    for path in stage(root, out, _names(args.only)):
        print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "stage",
        help="build build/<function>/ and the ws_bridge image context for deployment",
        description="Copy each function's main.py (the whole functions/ws_bridge for the bridge), "
        "src/tickcast and a requirements.txt from requirements.lock (hashes included) into "
        "OUT/<name>/. Runs only on the functions' runtime Python (3.11).",
    )
    p.add_argument(
        "--out", default="build", help="output directory, relative to the checkout (default: build)"
    )
    p.add_argument(
        "--only", nargs="+", metavar="NAME", help="stage only these (e.g. ingest ws_bridge)"
    )
    p.add_argument("--repo-root", help="the checkout (default: the current directory or a parent)")
    p.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tickcast.deploy.stage` (what scripts/deploy.sh runs)."""
    parser = argparse.ArgumentParser(prog="tickcast")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["stage", *(argv if argv is not None else sys.argv[1:])])
    try:
        return run(args)
    except TickcastError as exc:
        print(f"tickcast stage: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
