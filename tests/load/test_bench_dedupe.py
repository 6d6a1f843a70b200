"""`python -m tickcast.bench.dedupe` at a tiny size: it runs on a private
redis-server, and the figures it reports say what the scheme promises (no
assertion on speed; memory figures are deterministic enough to compare)."""

from __future__ import annotations

import json
from pathlib import Path

from tickcast.bench import dedupe


def test_bench_dedupe_reports_old_and_new(tmp_path: Path) -> None:
    out = tmp_path / "dedupe.json"
    args = ["--rate", "2000", "--seconds", "3", "--symbols", "50", "--json", str(out)]
    assert dedupe.main(args) == 0
    figures = json.loads(out.read_text())
    old, new = figures["rows"]
    assert old["scheme"] == "old" and new["scheme"] == "new"
    assert old["ticks"] == new["ticks"] == 6000
    # The old scheme: a key per tick, quotes included, plus a done mark per message.
    assert old["keys"] == old["ticks"] + old["messages"] + 1
    # The new one: at most a key per (symbol, second) with trades, plus the done marks.
    assert new["keys"] <= 50 * 3 + new["messages"] + 1
    assert new["steady_bytes_per_tick_s"] * 20 < old["steady_bytes_per_tick_s"]
    assert figures["command"].startswith("python -m tickcast.bench.dedupe --rate 2000")
