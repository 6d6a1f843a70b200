"""requirements.lock: fresh, satisfying pyproject.toml, and used by make, stage and the image."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tickcast.deploy import lock

ROOT = Path(__file__).resolve().parents[3]


def test_the_lock_is_fresh() -> None:
    assert lock.stale(ROOT) is None


def test_every_pyproject_requirement_is_met_by_its_pin() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entries = lock.read(ROOT / lock.LOCK)
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += [s for s in extra if not s.startswith("tickcast")]
    assert specs
    for spec in specs:
        req = Requirement(spec)
        entry = entries.get(canonicalize_name(req.name))
        assert entry is not None, f"{req.name} is not in {lock.LOCK}"
        assert req.specifier.contains(entry.version, prereleases=True), (spec, entry.version)
    for entry in entries.values():
        assert "--hash=sha256:" in entry.text, entry.name


def test_a_changed_dependency_makes_the_lock_stale(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / lock.LOCK, tmp_path / lock.LOCK)
    assert lock.stale(tmp_path) is None
    text = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        text.replace('"numpy>=1.26,<3",', '"numpy>=1.26,<3",\n    "left-pad>=1",'),
        encoding="utf-8",
    )
    reason = lock.stale(tmp_path)
    assert reason is not None and "stale" in reason and "make lock" in reason
    with pytest.raises(lock.LockError, match="stale"):
        lock.runtime_requirements(tmp_path)


def _requires(name: str) -> list[Requirement] | None:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return [Requirement(r) for r in dist.requires or []]


def test_the_runtime_closure_is_complete() -> None:
    """Each runtime package's own requirements (for Linux, CPython 3.11, and the
    extras pyproject asks for) are in the staged requirements: pip's hash-checking
    mode installs nothing that is not listed."""
    import tomllib

    entries = lock.read(ROOT / lock.LOCK)
    roots = lock.runtime_roots(ROOT / "pyproject.toml")
    closure = {e.name for e in lock.runtime_closure(entries, roots)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, set[str]] = {}
    for spec in project["dependencies"]:
        req = Requirement(spec)
        extras[canonicalize_name(req.name)] = set(req.extras)
    env = {**default_environment(), "python_version": "3.11", "sys_platform": "linux"}
    checked = 0
    todo = sorted(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        reqs = _requires(name)
        if reqs is None:
            continue
        checked += 1
        wanted = extras.get(name, set())
        for req in reqs:
            marker_ok = req.marker is None or any(
                req.marker.evaluate({**env, "extra": e}) for e in (wanted or {""})
            )
            if not marker_ok:
                continue
            dep = canonicalize_name(req.name)
            assert dep in closure, f"{name} needs {dep}, missing from the staged requirements"
            extras.setdefault(dep, set()).update(req.extras)
            todo.append(dep)
    assert checked >= len(roots)
    # Dev-only packages stay out of what is deployed.
    assert not closure & {"pytest", "mypy", "ruff", "moto", "hypothesis", "uv"}


def test_make_installs_the_venv_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes -r $(LOCK)" in makefile
    assert "--no-deps -e ." in makefile
    assert "LOCK := requirements.lock" in makefile
    assert "$(STAMP): pyproject.toml $(LOCK)" in makefile
    assert "-e '.[dev]'" not in makefile
    assert "python -m tickcast.deploy.lock" in makefile
