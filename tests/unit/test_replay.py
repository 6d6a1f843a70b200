from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from tickcast.ingest import formats
from tickcast.replay import OHLCV, Series, alpaca_trades, bar_messages, read_csv, rfc3339_ns

S = 1_000_000_000


def test_rfc3339_keeps_nanoseconds() -> None:
    assert rfc3339_ns(1709562600 * S + 100123456) == "2024-03-04T14:30:00.100123456Z"


@pytest.mark.parametrize("row", [OHLCV(10, 12, 9, 11, 400), OHLCV(10, 12, 9, 9.5, 400)])
def test_a_row_becomes_four_trades_inside_its_bar_that_rebuild_it(row: OHLCV) -> None:
    trades = alpaca_trades("SPX", row, 1000 * S, S)
    prices = [t["p"] for t in trades]
    assert prices[0] == row.open and prices[-1] == row.close
    assert max(prices) == row.high and min(prices) == row.low
    assert sum(t["s"] for t in trades) == row.volume  # type: ignore[misc]
    stamps = [
        datetime.fromisoformat(str(t["t"]).replace("Z", "+00:00")).timestamp() for t in trades
    ]
    assert all(1000 <= x < 1001 for x in stamps) and stamps == sorted(stamps)
    assert len({t["i"] for t in trades}) == 4


def test_replayed_bars_are_valid_alpaca_input() -> None:
    series = [
        Series("SPX", [OHLCV(10, 12, 9, 11, 400)] * 3),
        Series("COMP", [OHLCV(5, 6, 4, 5.5, 10)] * 2),
    ]
    msgs = list(bar_messages(series, 1.0, backfill=1))
    assert len(msgs) == 3  # the backfilled row, then two live ones
    assert len(list(bar_messages(series, 1.0, backfill=3))) == 1  # a backfill is one batch
    now = msgs[0][0]
    parsed = formats.parse(
        msgs[0][1], "alpaca", now_ns=int(now * S), max_past_ns=3600 * S, max_future_ns=60 * S
    )
    assert parsed.rejected == [] and {s for s, _ in parsed.ticks} == {"SPX", "COMP"}
    assert len(orjson.loads(msgs[2][1])) == 4  # COMP has run out of rows


def test_csv_with_and_without_a_symbol_column(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,100\n")
    (s,) = read_csv(f, "aapl")
    assert s.symbol == "AAPL" and s.rows == [OHLCV(1, 2, 0.5, 1.5, 100)]
    with pytest.raises(ValueError, match="pass --symbol"):
        read_csv(f, None)
    g = tmp_path / "b.csv"
    g.write_text("symbol,open,high,low,close\nX,1,2,0.5,1.5\n")
    with pytest.raises(ValueError, match="volume"):
        read_csv(g, None)
    h = tmp_path / "c.csv"
    h.write_text("symbol,open,high,low,close,volume\nX,1,2,zero,1.5,3\n")
    with pytest.raises(ValueError, match=r"c\.csv:2"):
        read_csv(h, None)
