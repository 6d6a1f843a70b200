"""The mypyc build (scripts/build-native.sh), when present, is what runs, and matches its source.

``make test`` builds it first; if nothing was built (no C compiler) the pure
modules must be the ones imported. Run by hand after editing an indicator
without ``make``, the first test fails: the compiled modules are stale and
``tickcast.indicators`` fell back to pure Python.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tickcast.indicators as ind
from tickcast.indicators import _backend

PACKAGE_DIR = Path(ind.__file__).parent
SRC_DIR = PACKAGE_DIR.parent.parent
SUFFIX = _backend.SUFFIX
LIBRARY = SRC_DIR / f"{_backend.GROUP_LIB}{SUFFIX}"
COMPILABLE = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem not in _backend.INTERPRETED)
COMPILED = sorted(PACKAGE_DIR.glob(f"*{SUFFIX}"))
FORCED_PURE = os.environ.get(_backend.PURE_ENV, "") not in ("", "0")

needs_build = pytest.mark.skipif(
    not COMPILED or FORCED_PURE,
    reason=f"no compiled build (`make native`) or {_backend.PURE_ENV} set",
)


def test_the_compiled_build_is_imported_when_present_and_not_stale() -> None:
    modules = {name: importlib.import_module(f"tickcast.indicators.{name}") for name in COMPILABLE}
    if not COMPILED or FORCED_PURE:
        assert ind.BACKEND == "python"
        for name, module in modules.items():
            assert module.__file__ == str(PACKAGE_DIR / f"{name}.py")
        assert isinstance(ind.SMA.update, types.FunctionType)
        return
    binaries = [PACKAGE_DIR / f"{name}{SUFFIX}" for name in COMPILABLE]
    missing = [b.name for b in [*binaries, LIBRARY] if not b.is_file()]
    assert not missing, f"compiled modules missing: {missing}; run `make native`"
    built = min(b.stat().st_mtime_ns for b in [*binaries, LIBRARY])
    newer = [f"{n}.py" for n in COMPILABLE if (PACKAGE_DIR / f"{n}.py").stat().st_mtime_ns > built]
    assert not newer, f"edited after the compiled build: {newer}; run `make native`"
    for binary, module in zip(binaries, modules.values(), strict=True):
        assert module.__file__ == str(binary)
    assert ind.BACKEND == "mypyc"
    # Compiled methods are not Python functions: the build really is what runs.
    assert not isinstance(ind.SMA.update, types.FunctionType)
    assert not isinstance(ind.BollingerBands.update, types.FunctionType)


def _import_in_subprocess(pythonpath: Path | None, **env: str) -> tuple[str, str]:
    code = (
        "import tickcast.indicators as i, tickcast.indicators.sma as s\n"
        "print(i.BACKEND, s.__file__)\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != _backend.PURE_ENV} | env
    if pythonpath is not None:
        environ["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run(
        [sys.executable, "-W", "always::RuntimeWarning", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
    )
    return out.stdout.strip(), out.stderr


@needs_build
def test_the_environment_variable_forces_pure_python() -> None:
    stdout, stderr = _import_in_subprocess(None, **{_backend.PURE_ENV: "1"})
    assert stdout == f"python {PACKAGE_DIR / 'sma.py'}"
    assert "RuntimeWarning" not in stderr


@needs_build
def test_a_stale_or_incomplete_build_falls_back_to_pure_python_loudly(tmp_path: Path) -> None:
    # A copy of the package with its build, so the checkout's files are never touched.
    (tmp_path / "tickcast").mkdir()
    shutil.copy2(SRC_DIR / "tickcast" / "__init__.py", tmp_path / "tickcast" / "__init__.py")
    copy = tmp_path / "tickcast" / "indicators"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(LIBRARY, tmp_path / LIBRARY.name)
    # Sources older than the build, whatever state the checkout is in.
    for source in copy.glob("*.py"):
        os.utime(source, ns=(0, 0))

    stdout, stderr = _import_in_subprocess(tmp_path)
    assert stdout == f"mypyc {copy / f'sma{SUFFIX}'}", stderr
    assert "RuntimeWarning" not in stderr

    later = (copy / f"sma{SUFFIX}").stat().st_mtime_ns + 1_000_000_000
    os.utime(copy / "_window.py", ns=(later, later))
    stdout, stderr = _import_in_subprocess(tmp_path)
    assert stdout == f"python {copy / 'sma.py'}"
    assert "RuntimeWarning: tickcast.indicators: not using the compiled" in stderr
    assert "_window.py changed after the build" in stderr

    os.utime(copy / "_window.py", ns=(0, 0))
    (tmp_path / LIBRARY.name).unlink()
    stdout, stderr = _import_in_subprocess(tmp_path)
    assert stdout == f"python {copy / 'sma.py'}"
    assert f"missing {LIBRARY.name}" in stderr
