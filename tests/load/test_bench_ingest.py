"""`python -m tickcast.bench.ingest` at a tiny size: the three variants ran on the same
messages against a private redis-server and every raw message was published (no
assertion on speed: the figures are for BENCHMARKS.md)."""

from __future__ import annotations

import json
from pathlib import Path

from tickcast.bench import ingest


def test_bench_ingest_reports_null_and_both_collector_settings(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    args = ["--ticks", "400", "--symbols", "3", "--messages", "3", "--json", str(out)]
    assert ingest.main(args) == 0
    figures = json.loads(out.read_text())
    names = [r["variant"] for r in figures["rows"]]
    assert names == ["null", "ingest, default gc", "ingest, tuned gc"]
    assert all(r["median_us_per_tick"] > 0 for r in figures["rows"])
    assert figures["rows"][0]["x_null"] == 1.0
    # Two ingest variants x (1 warm-up + 3 messages) x 3 symbols, all fresh: all published.
    assert figures["published_messages"] == 2 * 4 * 3
    assert figures["command"] == "python -m tickcast.bench.ingest " + " ".join(args)
