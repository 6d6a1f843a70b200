"""The package is pure (no I/O imports) and every instance has bounded memory."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tickcast.indicators as ind

PACKAGE_DIR = Path(ind.__file__).parent
ALLOWED_IMPORTS = {"__future__", "abc", "collections.abc", "math", "sys", "types", "typing"}
# The import-time choice between the compiled and the pure modules stats files.
BACKEND_IMPORTS = {"importlib.machinery", "importlib.util", "os", "warnings"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_modules_import_only_the_standard_library_basics(path: Path) -> None:
    allowed = ALLOWED_IMPORTS | (BACKEND_IMPORTS if path.name == "_backend.py" else set())
    outside = {
        name
        for name in _imports(path)
        if name not in allowed and not name.startswith("tickcast.indicators")
    }
    assert not outside, f"{path.name} imports {sorted(outside)}"


def test_importing_the_package_pulls_in_no_io_clients() -> None:
    # Compared with start-up: namespace-package .pth files pre-create `google`.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import tickcast.indicators\n"
        "bad = ('redis', 'google', 'functions_framework', 'numpy', 'socket')\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


FACTORIES: list[Callable[[], Any]] = [
    lambda: ind.SMA(50),
    lambda: ind.EMA(50),
    lambda: ind.RSI(50),
    lambda: ind.MACD(),
    lambda: ind.BollingerBands(50),
    lambda: ind.ZScore(50),
    lambda: ind.RealizedVolatility(50),
    ind.LogReturn,
]


@pytest.mark.parametrize("make", FACTORIES)
def test_state_size_does_not_grow_with_the_number_of_updates(make: Callable[[], Any]) -> None:
    indicator = make()
    assert not hasattr(indicator, "__dict__")  # __slots__ all the way down
    sizes = []
    price = 100.0
    for n in range(20_000):
        price *= 1.0001 if n % 3 else 0.9998
        indicator.update(price)
        if n in (1_000, 19_999):
            sizes.append(len(json.dumps(indicator.state())))
    # Same number of fields and list lengths; only the digits of the floats vary.
    assert sizes[1] <= sizes[0] * 1.1
    assert sizes[1] < 50 * 30 + 500


def test_windows_are_fixed_size_ring_buffers() -> None:
    sma = ind.SMA(10)
    for i in range(1_000):
        sma.update(float(i))
    assert len(sma.state()["buf"]) == 10
