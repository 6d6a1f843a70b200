"""`tickcast bench e2e --delivery pull` at a small size: both pipelines run on
tickcast's pull dispatcher, every tick reaches a bar, and the one invocation
prints issue 16's two targets (latency at the demo's load, ceiling ratio)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_pull_delivery_measures_both_pipelines_and_prints_both_targets() -> None:
    argv = [
        str(Path(sys.executable).parent / "tickcast"),
        *("bench", "e2e", "--delivery", "pull", "--dispatch-concurrency", "4"),
        *("--demo-load", "--duration", "6", "--check-volume"),
        *("--ceiling", "20", "--step-seconds", "6", "--symbols", "4", "--window-ms", "250"),
    ]
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "pull delivery (4 in flight per subscription)" in out
    assert "null p50" in out and "real p50" in out
    assert "volume check: every tick counted into a bar" in out
    block = out.split("issue 16 targets", 1)[1]
    assert "real p50 <= null p50 + 50 ms at the demo's load" in block
    assert "real ceiling >= 0.8x null ceiling" in block
