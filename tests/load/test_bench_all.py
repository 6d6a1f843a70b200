"""`tickcast bench all --quick`: the benchmarks that start the local stack (e2e beside
the null pipeline, the soak) and the indicator comparison, run for real at small sizes,
rendered into one document with the machine, the commands and every figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickcast.bench import report

pytestmark = pytest.mark.e2e


def test_bench_all_quick_writes_every_suite_with_its_command(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    rc = report.main(
        ["--quick", "--only", "indicators", "e2e", "floor", "ceiling", "soak", "--out", str(out)]
    )
    doc = out.read_text()
    assert rc == 0, doc
    assert doc.startswith("# Benchmarks\n") and "- **Machine**: " in doc and "vCPU" in doc
    for suite in ("indicators", "e2e", "floor", "soak"):
        assert f"tickcast bench {suite} " in doc
    assert "tickcast bench e2e --demo-load --duration 5 --ceiling-symbols 2,4 " in doc
    assert "## ws_bridge" not in doc  # not asked for
    # Figures beside their references, as each suite printed them.
    assert "| SMA(20) |" in doc and "talipp" in doc
    assert "null p50" in doc and "real p50" in doc and "targets:" in doc
    assert doc.count("volume check: every tick counted into a bar") == 2  # e2e and soak
    assert "soak: PASS" in doc
    # The targets section comes before the suites and repeats their verdict lines.
    targets = doc.split("## Targets", 1)[1].split("\n## ", 1)[0]
    assert "- **tickcast bench soak " in targets and "soak: PASS" in targets
    assert doc.index("## Targets") < doc.index("## Indicators")
    # The emulators' own floor, and a ceiling for each pipeline.
    assert "| ordered, 20 keys | 20 | 40/40 |" in doc and "| unordered | 20 | 40/40 |" in doc
    assert "write -> on_snapshot p50" in doc and "floor of the local pipeline" in doc
    assert "null ceiling: " in doc and "real ceiling: " in doc
    assert "| null | " in doc and "| real | " in doc
    for proc in ("ingest", "features", "predict", "bridge", "redis"):
        assert f"\n{proc:<12}" in doc, f"no RSS row for {proc}"
