"""A mixed Alpaca tape, as the stream sends it, through ingest's parser and filter and
features' bar builder: OHLCV equals values computed by hand from the vendor's rules.

Rules: Alpaca Market Data FAQ, "How are bars aggregated?"
(https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated), minute-bar
column, tape C (UTP): `@` regular and `F` intermarket sweep update everything; `I` odd
lot, `W` average price, `Z` sold out of sequence, `4` derivatively priced and `P` prior
reference price update volume only; `M` (official close) updates nothing. Cancels `x`
and corrections `c`: https://forum.alpaca.markets/t/message-type-c/8116.
"""

from __future__ import annotations

import orjson
import pytest

from tickcast.config import Settings
from tickcast.features.bars import BarState
from tickcast.ingest import formats
from tickcast.ingest.filters import TickFilter

T = "2024-03-04T15:30:{:02d}.{:09d}Z"
NS = 1_000_000_000


def _trade(sec: int, ns: int, i: int, p: float, s: int, c: list[str]) -> dict[str, object]:
    return {
        "T": "t",
        "S": "AAPL",
        "i": i,
        "x": "V",
        "p": p,
        "s": s,
        "t": T.format(sec, ns),
        "c": c,
        "z": "C",
    }


def _bars(frames: list[list[dict[str, object]]]) -> list[object]:
    s = Settings.from_env({})
    keep = TickFilter.from_settings(s)
    st = BarState(bar_ms=60_000, grace_ms=250)
    out: list[object] = []
    index: dict[int, dict[str, list[float | int]]] = {}  # what the store keeps in Redis
    for frame in frames:
        parsed = formats.parse(
            orjson.dumps(frame),
            "alpaca",
            now_ns=1 << 62,
            max_past_ns=1 << 62,
            max_future_ns=1 << 62,
        )
        assert parsed.rejected == []
        ticks, _ = keep.apply(parsed.ticks)
        out += st.add([t for _, t in ticks], index=index)
        for start, ref, entry in st.indexed:
            index.setdefault(start, {})[ref] = entry
        for start, ref in st.dropped:
            index[start].pop(ref, None)
    return out + st.advance(1 << 62)


def test_a_mixed_tape_gives_the_hand_computed_bar() -> None:
    tape = [
        _trade(0, 100, 1, 170.00, 100, ["@"]),  # open
        _trade(1, 0, 2, 175.00, 20, ["@", "I"]),  # odd lot: volume only, not the high
        _trade(2, 0, 3, 170.50, 300, ["@", "F"]),  # sweep: everything
        _trade(3, 0, 4, 168.00, 5000, ["@", "W"]),  # average price: volume only
        _trade(4, 0, 5, 171.20, 100, ["@", "Z"]),  # out of sequence: volume only (minute bar)
        _trade(5, 0, 6, 169.90, 200, ["@"]),  # the low
        _trade(6, 0, 7, 172.00, 400, ["@", "4"]),  # derivatively priced: volume only
        _trade(7, 0, 8, 170.80, 100, ["@"]),  # high among eligible, and the close
        _trade(8, 0, 9, 171.00, 50_000, ["M"]),  # official close: updates nothing
        _trade(8, 0, 10, 160.00, 10, ["@", "P"]),  # prior reference price: volume only
    ]
    (bar,) = _bars([tape[::2], tape[1::2]])
    eligible_volume = [100, 20, 300, 5000, 100, 200, 400, 100, 10]
    prices = [170.00, 175.00, 170.50, 168.00, 171.20, 169.90, 172.00, 170.80, 160.00]
    assert (bar.o, bar.h, bar.l, bar.c) == (170.00, 170.80, 169.90, 170.80)
    assert (bar.v, bar.n) == (sum(eligible_volume), 9)
    pv = sum(p * v for p, v in zip(prices, eligible_volume, strict=True))
    assert bar.vwap == pytest.approx(pv / sum(eligible_volume))


def test_a_cancel_and_a_correction_on_the_tape_amend_the_open_bar() -> None:
    frames = [
        [_trade(0, 0, 1, 170.00, 100, ["@"]), _trade(1, 0, 2, 190.00, 100, ["@"])],
        [_trade(2, 0, 3, 171.00, 100, ["@"])],
        [
            {
                "T": "x",
                "S": "AAPL",
                "i": 2,
                "x": "V",
                "p": 190.0,
                "s": 100,
                "a": "C",
                "z": "C",
                "t": T.format(3, 0),
            },
            {
                "T": "c",
                "S": "AAPL",
                "x": "V",
                "oi": 3,
                "op": 171.0,
                "os": 100,
                "oc": ["@"],
                "ci": 11,
                "cp": 170.5,
                "cs": 300,
                "cc": ["@"],
                "z": "C",
                "t": T.format(4, 0),
            },
        ],
    ]
    (bar,) = _bars(frames)
    assert (bar.o, bar.h, bar.l, bar.c, bar.v, bar.n) == (170.0, 170.5, 170.0, 170.5, 400, 2)
