"""The code stays typed and lint-clean: mypy --strict and ruff run in the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TREES = ["src", "tests", "functions", "scripts"]


@pytest.mark.parametrize(
    "argv",
    [
        [str(BIN / "ruff"), "check", *TREES],
        [str(BIN / "ruff"), "format", "--check", *TREES],
        [str(BIN / "mypy")],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(argv: list[str]) -> None:
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
