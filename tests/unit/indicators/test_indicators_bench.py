"""The benchmark entry point runs end to end (a smoke test: no timing is asserted)."""

from __future__ import annotations

import pytest

from tickcast.bench import indicators as bench


def test_bench_prints_one_row_per_indicator(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--points", "300", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "command: python -m tickcast.bench.indicators --points 300 --repeat 1" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    header, *body = rows
    assert header.split("|")[1:-1] == [
        " indicator ",
        " tickcast ns/update ",
        " talipp ns/update ",
        " speed-up ",
        " TA-Lib batch ns/point ",
        " tickcast bytes ",
    ]
    names = [row.split("|")[1].strip() for row in body]
    assert names[:6] == [
        "SMA(20)",
        "EMA(20)",
        "RSI(14)",
        "MACD(12,26,9)",
        "BollingerBands(20,2)",
        "ATR(14)",
    ]
    for row in body[:6]:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[3].endswith("x")  # a speed-up was computed
        assert int(cells[5].replace(",", "")) > 0


def test_bench_rejects_tiny_runs() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--points", "10"])
