"""Bars on the shapes real feeds send: vendor bars beside trades, updated bars, shorter
bars combined, trade conditions, cancels and corrections, ties, a skewed timestamp.

Vendor references for the shapes:
- Alpaca stream: trades `t`, minute bars `b`, updated bars `u` (a late trade changed a
  minute bar already sent; same `t`), cancels `x`, corrections `c`:
  https://docs.alpaca.markets/docs/real-time-stock-pricing-data
- Polygon.io stream: second aggregates `A`, minute aggregates `AM`, trades `T` with the
  sequence number `q`: https://polygon.io/docs/stocks/ws_stocks_a,
  https://polygon.io/docs/stocks/ws_stocks_am, https://polygon.io/docs/stocks/ws_stocks_t
- Which parts of a bar a trade condition updates (high/low, last, volume):
  https://polygon.io/docs/stocks/get_v3_reference_conditions (`update_rules`).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from tickcast.features.bars import BarState
from tickcast.schema import FLAG_HIGH_LOW, FLAG_LAST, FLAG_VOLUME, Bar, Tick

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_040 * S  # a 60 s bar boundary
MIN = 60 * S


def minute_bars() -> BarState:
    return BarState(bar_ms=60_000, grace_ms=250)


def trade(ts: int, price: float, size: float = 100.0, **kw: Any) -> Tick:
    return Tick(ts=ts, price=price, size=size, source="alpaca", **kw)


def vendor_bar(
    start: int, o: float, h: float, low: float, c: float, v: float, bar_s: int = 60, **kw: Any
) -> Tick:
    return Tick(
        ts=start,
        price=c,
        size=v,
        kind="bar",
        open=o,
        high=h,
        low=low,
        vwap=kw.pop("vwap", (o + c) / 2),
        trades=kw.pop("trades", 10),
        bar_s=bar_s,
        **kw,
    )


def ohlcvn(b: Bar) -> tuple[float, ...]:
    return (b.o, b.h, b.l, b.c, b.v, b.n)


def close_all(st: BarState) -> list[Bar]:
    return st.advance(T0 + 100 * MIN)


# --- 1. one bar per (symbol, interval): vendor bars beside trades -------------------------


def test_a_minute_bar_beside_trades_of_the_same_minute_makes_one_bar() -> None:
    """Alpaca `t` and `b` on one connection, or Polygon `T` and `AM`: the old code emitted
    the vendor bar at once and the trade-built bar later, two messages with one seq."""
    st = minute_bars()
    bars = st.add([trade(T0 + 1 * S, 10.0), trade(T0 + 30 * S, 11.0)])
    bars += st.add([vendor_bar(T0, 10.0, 11.5, 9.5, 11.2, 900)])
    bars += st.add([trade(T0 + 59 * S, 12.0)])  # superseded: the vendor bar holds the minute
    bars += close_all(st)
    assert [b.t for b in bars] == [T0 // MS]
    assert ohlcvn(bars[0]) == (10.0, 11.5, 9.5, 11.2, 900, 10)


def test_an_updated_bar_revises_the_open_bar_and_never_emits_a_second() -> None:
    st = minute_bars()
    b = vendor_bar(T0, 10.0, 11.0, 9.0, 10.5, 500)
    u = vendor_bar(T0, 10.0, 11.2, 9.0, 10.6, 650, revision=1, trades=12)
    # In one batch, in either order, and across batches: the `u` wins.
    for batches in ([[b, u]], [[u, b]], [[b], [u]], [[u], [b]]):
        st = minute_bars()
        bars = [x for batch in batches for x in st.add(batch)] + close_all(st)
        assert len(bars) == 1
        assert ohlcvn(bars[0]) == (10.0, 11.2, 9.0, 10.6, 650, 12)


def test_a_vendor_bar_after_its_bar_closed_is_late_not_a_second_bar() -> None:
    st = minute_bars()
    st.add([trade(T0 + 5 * S, 10.0)])
    (first,) = st.add([trade(T0 + MIN + S, 10.1)])
    assert st.add([vendor_bar(T0, 10.0, 10.0, 10.0, 10.0, 100)]) == []
    assert st.late == 1
    assert [b.t for b in close_all(st)] == [(T0 + MIN) // MS]
    assert first.t == T0 // MS


def test_a_vendor_bar_longer_than_the_bar_is_ignored_not_folded_into_a_minute() -> None:
    st = minute_bars()
    st.add([vendor_bar(T0, 10.0, 12.0, 9.0, 11.0, 10_000, bar_s=86_400)])
    assert close_all(st) == [] and st.ignored == 1


@settings(max_examples=300, deadline=None)
@given(
    st_.lists(
        st_.lists(
            st_.tuples(
                st_.sampled_from(["trade", "bar", "updated", "second"]),
                st_.integers(0, 4 * 60 - 1),  # seconds from T0
                st_.floats(1, 100),
            ),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_seq_is_unique_and_increasing_whatever_the_mix(
    messages: list[list[tuple[str, int, float]]],
) -> None:
    st = minute_bars()
    out: list[Bar] = []
    for msg in messages:
        ticks = []
        for kind, sec, p in msg:
            ts = T0 + sec * S
            start = ts - ts % MIN
            if kind == "trade":
                ticks.append(trade(ts, p))
            elif kind == "second":
                ticks.append(vendor_bar(ts, p, p, p, p, 5, bar_s=1))
            else:
                rev = 1 if kind == "updated" else None
                ticks.append(vendor_bar(start, p, p, p, p, 50, revision=rev))
        out += st.add(ticks)
    out += close_all(st)
    seqs = [b.t for b in out]
    assert seqs == sorted(set(seqs))


# --- 2. shorter vendor bars into longer bars ------------------------------------------------


def test_second_aggregates_combine_into_a_minute_bar() -> None:
    """Polygon `A` (1 s) into 60 s bars; the old code took the first bar's close as open."""
    st = minute_bars()
    seconds = [
        vendor_bar(T0 + 3 * S, 10.0, 10.4, 9.9, 10.2, 100, bar_s=1, vwap=10.1, trades=3),
        vendor_bar(T0 + 1 * S, 9.8, 10.0, 9.7, 9.9, 200, bar_s=1, vwap=9.85, trades=4),
        vendor_bar(T0 + 59 * S, 10.3, 10.9, 10.3, 10.8, 50, bar_s=1, vwap=10.6, trades=1),
    ]
    st.add(seconds[:2])
    st.add(seconds[2:])
    (bar,) = close_all(st)
    assert ohlcvn(bar) == (9.8, 10.9, 9.7, 10.8, 350, 8)
    assert bar.vwap == pytest.approx((10.1 * 100 + 9.85 * 200 + 10.6 * 50) / 350)


def test_one_minute_history_combines_into_five_minute_bars() -> None:
    st = BarState(bar_ms=300_000, grace_ms=0)
    rows = [(10.0, 10.5, 9.5, 10.2, 100), (10.2, 11.0, 10.1, 10.9, 200)]
    rows += [(10.9, 10.9, 9.0, 9.1, 300), (9.1, 9.5, 9.1, 9.4, 100), (9.4, 9.6, 9.3, 9.5, 50)]
    T5 = T0 - T0 % (5 * MIN)
    ticks = [vendor_bar(T5 + i * MIN, *row, vwap=row[3]) for i, row in enumerate(rows)]
    # The last minute's end is the five minutes' end: that bar closes the five-minute bar.
    (bar,) = st.add(list(reversed(ticks)))
    assert ohlcvn(bar) == (10.0, 11.0, 9.0, 9.5, 750, 50)
    assert bar.vwap == pytest.approx(sum(r[3] * r[4] for r in rows) / 750)


def test_trades_and_second_bars_of_one_minute_are_not_counted_twice() -> None:
    st = minute_bars()
    st.add([trade(T0 + 1 * S, 10.0, 100), trade(T0 + 2 * S, 10.5, 100)])
    st.add([vendor_bar(T0 + 1 * S, 10.0, 10.0, 10.0, 10.0, 100, bar_s=1, trades=1)])
    st.add([vendor_bar(T0 + 2 * S, 10.5, 10.5, 10.5, 10.5, 100, bar_s=1, trades=1)])
    st.add([trade(T0 + 3 * S, 10.7, 100)])  # the second bars carry the minute now
    (bar,) = close_all(st)
    assert ohlcvn(bar) == (10.0, 10.5, 10.0, 10.5, 200, 2)


# --- 3. trade conditions ------------------------------------------------------------------

HL, LAST, VOL = FLAG_HIGH_LOW, FLAG_LAST, FLAG_VOLUME


def test_a_mixed_tape_counts_each_trade_as_its_conditions_say() -> None:
    """Polygon's update rules: a regular trade updates all; an odd lot updates volume only;
    an average-price trade volume only; an out-of-sequence print high/low and volume but
    not last; a derivatively priced print volume only."""
    tape = [
        trade(T0 + 1 * S, 10.00, 100),  # regular: open
        trade(T0 + 2 * S, 12.00, 30, flags=VOL),  # odd lot at a high price
        trade(T0 + 3 * S, 10.50, 200),  # regular
        trade(T0 + 4 * S, 8.00, 1000, flags=VOL),  # average price
        trade(T0 + 5 * S, 10.80, 100, flags=HL | VOL),  # out of sequence: no last
        trade(T0 + 6 * S, 10.20, 100),  # regular: close
        trade(T0 + 7 * S, 9.00, 500, flags=VOL),  # derivatively priced
        trade(T0 + 8 * S, 11.00, 100, flags=0),  # updates nothing
    ]
    st = minute_bars()
    st.add(tape[::-1])
    (bar,) = close_all(st)
    assert (bar.o, bar.h, bar.l, bar.c) == (10.00, 10.80, 10.00, 10.20)
    assert (bar.v, bar.n) == (2030, 7)
    pv = 10 * 100 + 12 * 30 + 10.5 * 200 + 8 * 1000 + 10.8 * 100 + 10.2 * 100 + 9 * 500
    assert bar.vwap == pytest.approx(pv / 2030)


def test_a_bar_of_odd_lots_only_is_flat_at_the_previous_close() -> None:
    st = minute_bars()
    bars = st.add([trade(T0 + S, 10.0)])
    bars += st.add(
        [trade(T0 + MIN + S, 55.0, 10, flags=VOL), trade(T0 + MIN + 2 * S, 56.0, 10, flags=VOL)]
    )
    _, second = bars + close_all(st)
    assert (second.o, second.h, second.l, second.c, second.v) == (10.0, 10.0, 10.0, 10.0, 20)


# --- 4. cancels and corrections -------------------------------------------------------------


def test_a_cancel_refolds_its_open_bar_without_the_trade() -> None:
    st = minute_bars()
    index: dict[int, dict[str, list[Any]]] = {}
    st.add(
        [
            trade(T0 + 1 * S, 10.0, ref="D:1"),
            trade(T0 + 2 * S, 15.0, ref="D:2"),  # the erroneous print: high and close
            trade(T0 + 3 * S, 11.0, ref="D:3"),
        ]
    )
    for start, ref, entry in st.indexed:
        index.setdefault(start, {})[ref] = entry
    cancel = Tick(ts=T0 + 20 * S, price=15.0, size=100, kind="cancel", ref="D:2")
    st.add([cancel], index=index)
    assert st.rejected == [] and st.dropped == [(T0 // MS, "D:2")]
    (bar,) = close_all(st)
    assert ohlcvn(bar) == (10.0, 11.0, 10.0, 11.0, 200, 2)


def test_a_correction_replaces_price_and_size_keeping_the_trades_place() -> None:
    st = minute_bars()
    st.add([trade(T0 + 1 * S, 10.0, ref="D:1"), trade(T0 + 9 * S, 12.0, ref="D:2")])
    index = {T0 // MS: {ref: e for _, ref, e in st.indexed}}
    fix = Tick(ts=T0 + 30 * S, price=11.0, size=50, kind="correct", ref="D:2")
    st.add([fix], index=index)
    (bar,) = close_all(st)
    assert ohlcvn(bar) == (10.0, 11.0, 10.0, 11.0, 150, 2)


def test_a_cancel_in_the_same_message_as_its_trade_is_applied() -> None:
    st = minute_bars()
    cancel = Tick(ts=T0 + 2 * S, price=15.0, size=100, kind="cancel", ref="D:2")
    st.add(
        [cancel, trade(T0 + 1 * S, 10.0, ref="D:1"), trade(T0 + 2 * S, 15.0, ref="D:2")], index={}
    )
    (bar,) = close_all(st)
    assert ohlcvn(bar) == (10.0, 10.0, 10.0, 10.0, 100, 1)


def test_a_cancel_for_a_published_bar_is_rejected_for_the_dead_letter_topic() -> None:
    st = minute_bars()
    st.add([trade(T0 + 1 * S, 10.0, ref="D:1")])
    index = {T0 // MS: {ref: e for _, ref, e in st.indexed}}
    st.add([trade(T0 + MIN + S, 10.0, ref="D:9")])  # closes the first bar
    index.pop(T0 // MS)  # the stage drops a closed bar's index with it
    st.add([Tick(ts=T0 + MIN + 2 * S, price=10.0, kind="cancel", ref="D:1")], index=index)
    assert [(a.ref, a.kind) for a in st.rejected] == [("D:1", "cancel")]


def test_a_cancel_in_a_bar_with_unindexed_trades_is_rejected_not_guessed() -> None:
    st = minute_bars()
    st.add([trade(T0 + 1 * S, 10.0, ref="D:1"), trade(T0 + 2 * S, 11.0)])
    index = {T0 // MS: {ref: e for _, ref, e in st.indexed}}
    st.add([Tick(ts=T0 + 3 * S, price=10.0, kind="cancel", ref="D:1")], index=index)
    assert len(st.rejected) == 1
    (bar,) = close_all(st)
    assert bar.n == 2


# --- 5. ties --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st_.lists(
        st_.tuples(st_.integers(0, 3), st_.floats(1, 1000), st_.integers(0, 10**6)),
        min_size=1,
        max_size=40,
        unique_by=lambda r: r[2],
    ),
    st_.randoms(use_true_random=False),
    st_.integers(1, 4),
)
def test_ties_in_event_time_are_ordered_by_sequence_number_in_any_delivery(
    rows: list[tuple[int, float, int]], rnd: Any, parts: int
) -> None:
    """Many trades share one timestamp (a sweep prints at one ns): open and close come from
    the sequence number, whatever the delivery order and however the ticks are batched."""
    ticks = [trade(T0 + ms * S, p, seq=q) for ms, p, q in rows]
    shuffled = list(ticks)
    rnd.shuffle(shuffled)
    a, b = minute_bars(), minute_bars()
    a.add(ticks)
    for k in range(parts):
        b.add(shuffled[k::parts])
    (x,), (y,) = close_all(a), close_all(b)
    assert (x.o, x.h, x.l, x.c, x.n) == (y.o, y.h, y.l, y.c, y.n)
    ordered = sorted(ticks, key=lambda t: (t.ts, t.seq))
    assert (x.o, x.c) == (ordered[0].price, ordered[-1].price)


# --- 6. one bad timestamp -------------------------------------------------------------------


def test_one_tick_ahead_of_the_clock_does_not_make_live_ticks_late() -> None:
    st = minute_bars()
    now = T0 + 50 * S
    st.add([trade(T0 + 49 * S, 10.0)], now_ns=now)
    # A tick 59 s ahead (inside TICKCAST_MAX_FUTURE_S=60): the old watermark jumped to it
    # and closed the live bar, so the next live tick was late.
    assert st.add([trade(now + 59 * S, 99.0)], now_ns=now) == []
    assert st.add([trade(T0 + 55 * S, 10.5)], now_ns=now + 5 * S) == []
    assert st.late == 0
    (bar,) = st.add([trade(T0 + MIN + S, 10.6)], now_ns=T0 + MIN + 2 * S)
    assert (bar.c, bar.n) == (10.5, 2)


def test_two_ticks_ahead_of_the_clock_confirm_each_other() -> None:
    st = minute_bars()
    now = T0 + 50 * S
    st.add([trade(T0 + 49 * S, 10.0)], now_ns=now)
    assert st.add([trade(now + 20 * S, 10.0)], now_ns=now) == []
    (bar,) = st.add([trade(now + 30 * S, 10.0)], now_ns=now)
    assert bar.t == T0 // MS  # skewed feed: the bar closes by the confirmed tick
