"""Use the mypyc-compiled indicator modules only when they match their source.

``scripts/build-native.sh`` (run by ``make``) compiles every module of this
package except ``__init__``, ``registry`` and this one: a small extension
module (``sma.cpython-311-x86_64-linux-gnu.so``, ...) next to each ``.py``,
and one shared library, ``tickcast_indicators__mypyc``, next to the
``tickcast`` package. CPython's import system tries extension modules before
source in the same directory, so once they exist they are what ``import``
loads - which must never hide an edit to the source. ``__init__`` imports
this module before any other, and it decides:

* no compiled module: pure Python, silently (never built, or no C compiler);
* ``TICKCAST_INDICATORS_PURE=1`` in the environment: pure Python, silently
  (to compare the two);
* every compiled module and the shared library present, none older than any
  compiled module's source: compiled;
* otherwise (a source edited since the build, a module added, a missing
  library): pure Python, with a ``RuntimeWarning`` that names the cause.

Pure Python is forced by a meta-path finder that loads this package's modules
from their ``.py`` files ahead of the normal finder, so the two builds are
never mixed (an interpreted class cannot subclass a compiled one). The check
costs one ``listdir`` and a ``stat`` per module, once per process.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import Final

PACKAGE: Final = "tickcast.indicators"
INTERPRETED: Final = frozenset({"__init__", "_backend", "registry"})
"""Modules that are never compiled (kept in sync with scripts/build-native.sh)."""
GROUP_LIB: Final = "tickcast_indicators__mypyc"
"""mypyc's shared library, in the directory that holds the ``tickcast`` package."""
PURE_ENV: Final = "TICKCAST_INDICATORS_PURE"
SUFFIX: Final = EXTENSION_SUFFIXES[0]
"""This interpreter's extension suffix, e.g. ``.cpython-311-x86_64-linux-gnu.so``."""

HERE: Final = os.path.dirname(os.path.abspath(__file__))


def check_build(package_dir: str = HERE) -> tuple[bool, str]:
    """Whether the compiled modules in ``package_dir`` can be used, and if not why.

    The reason is empty when there is nothing to warn about (nothing compiled).
    """
    try:
        names = os.listdir(package_dir)
    except OSError:
        return False, ""
    if not any(name.endswith(SUFFIX) for name in names):
        return False, ""
    modules = sorted(n[:-3] for n in names if n.endswith(".py") and n[:-3] not in INTERPRETED)
    libs = [os.path.join(package_dir, m + SUFFIX) for m in modules]
    libs.append(os.path.join(os.path.dirname(os.path.dirname(package_dir)), GROUP_LIB + SUFFIX))
    missing = [os.path.basename(lib) for lib in libs if not os.path.isfile(lib)]
    if missing:
        return False, f"missing {', '.join(missing)}"
    built = min(os.stat(lib).st_mtime_ns for lib in libs)
    edited = [
        m + ".py"
        for m in modules
        if os.stat(os.path.join(package_dir, m + ".py")).st_mtime_ns > built
    ]
    if edited:
        return False, f"{', '.join(edited)} changed after the build"
    return True, ""


class SourceFinder:
    """Meta-path finder that loads this package's modules from their ``.py`` files."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        source = os.path.join(HERE, name + ".py")
        if package != PACKAGE or not os.path.isfile(source):
            return None
        return spec_from_file_location(fullname, source)


def select() -> bool:
    """Decide once, before the indicator modules are imported; True for compiled."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        compiled, why = False, ""
    else:
        compiled, why = check_build()
    if why:
        warnings.warn(
            f"tickcast.indicators: not using the compiled (mypyc) modules: {why}; "
            "running pure Python. Rebuild with `make native`.",
            RuntimeWarning,
            stacklevel=2,
        )
    if not compiled:
        sys.meta_path.insert(0, SourceFinder())
    return compiled


def loaded_backend() -> str:
    """``"mypyc"`` if every compilable module was imported from an extension, else ``"python"``."""
    files = []
    for fullname, module in list(sys.modules.items()):
        package, _, name = fullname.rpartition(".")
        if package == PACKAGE and name not in INTERPRETED:
            files.append(getattr(module, "__file__", None) or "")
    return "mypyc" if files and all(f.endswith(SUFFIX) for f in files) else "python"


select()
