from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from tickcast.features.bars import BarState
from tickcast.schema import Tick

S = 1_000_000_000
T0 = 1_700_000_000 * S  # a bar boundary for 1 s bars


def trade(ts: int, price: float, size: float = 1.0) -> Tick:
    return Tick(ts=ts, price=price, size=size, id=str(ts))


def state() -> BarState:
    return BarState(bar_ms=1000, grace_ms=200)


def test_open_and_close_follow_event_time_not_arrival_order() -> None:
    st = state()
    assert (
        st.add(
            [
                trade(T0 + 500_000_000, 11.0),
                trade(T0 + 100_000_000, 10.0),
                trade(T0 + 900_000_000, 12.0, 2),
            ]
        )
        == []
    )
    (bar,) = st.add([trade(T0 + S + 300_000_000, 20.0)])  # past end + grace
    assert (bar.t, bar.o, bar.h, bar.l, bar.c, bar.v, bar.n) == (
        T0 // 1_000_000,
        10.0,
        12.0,
        10.0,
        12.0,
        4.0,
        3,
    )
    assert bar.vwap == (11 + 10 + 24) / 4


def test_a_bar_waits_for_its_grace_period() -> None:
    st = state()
    st.add([trade(T0 + 100_000_000, 10.0)])
    assert st.add([trade(T0 + S + 100_000_000, 10.5)]) == []  # inside grace: still open
    assert st.add([trade(T0 + 900_000_000, 9.0)]) == []  # a late-but-in-grace tick joins its bar
    (bar,) = st.add([trade(T0 + S + 250_000_000, 10.6)])
    assert bar.c == 9.0 and bar.l == 9.0


def test_late_ticks_for_closed_bars_are_counted_and_dropped() -> None:
    st = state()
    st.add([trade(T0 + 100_000_000, 10.0)])
    st.add([trade(T0 + 2 * S, 11.0)])
    assert st.add([trade(T0 + 500_000_000, 99.0)]) == []
    assert st.late == 1


def test_empty_intervals_make_no_bar_and_bars_leave_in_order() -> None:
    st = state()
    st.add([trade(T0 + 100_000_000, 1.0)])
    st.add([trade(T0 + 5 * S + 100_000_000, 2.0)])
    bars = st.add([trade(T0 + 9 * S, 3.0)])
    assert [b.t for b in bars] == [(T0 + 5 * S) // 1_000_000]
    assert st.last_seq == (T0 + 6 * S) // 1_000_000


def test_clock_closes_bars_when_trading_pauses() -> None:
    st = state()
    st.add([trade(T0 + 100_000_000, 10.0)])
    assert st.advance(T0 + S + 100_000_000) == []
    (bar,) = st.advance(T0 + S + 200_000_000)
    assert bar.c == 10.0


def test_quotes_do_not_build_bars_and_a_vendor_bar_closes_like_any_bar() -> None:
    st = state()
    st.add([Tick(ts=T0 + 1, price=10.0, kind="quote", bid=9.9, ask=10.1)])
    assert st.open == {}
    vendor = Tick(
        ts=T0,
        price=10.2,
        size=50,
        kind="bar",
        open=10.0,
        high=10.4,
        low=9.8,
        vwap=10.1,
        trades=7,
        bar_s=1,
    )
    # Held open (an updated bar may still revise it) until the watermark passes its end.
    assert st.add([vendor]) == []
    (bar,) = st.advance(T0 + S + 200_000_000)
    assert (bar.o, bar.h, bar.l, bar.c, bar.v, bar.vwap, bar.n) == (
        10.0,
        10.4,
        9.8,
        10.2,
        50,
        10.1,
        7,
    )


def test_state_round_trips_through_its_record() -> None:
    st = state()
    st.add([trade(T0 + 100_000_000, 10.0), trade(T0 + S + 100_000_000, 11.0)])
    again = BarState.from_record(1000, 200, st.record())
    assert again == st


@settings(max_examples=200, deadline=None)
@given(
    st_.lists(
        st_.tuples(st_.integers(0, 5_000), st_.floats(1, 1000), st_.floats(0, 100)),
        min_size=1,
        max_size=60,
    ),
    st_.randoms(use_true_random=False),
)
def test_a_message_folds_the_same_bars_in_any_order(
    rows: list[tuple[int, float, float]], rnd: Any
) -> None:
    """Bars depend on event times only: the order of ticks within a message never matters,
    and the bars equal a direct computation from the ticks."""
    ticks = [trade(T0 + ms * 1_000_000 + i, p, v) for i, (ms, p, v) in enumerate(rows)]
    shuffled = list(ticks)
    rnd.shuffle(shuffled)
    closer = [trade(T0 + 10 * S, 1.0)]
    a, b = state(), state()
    got = a.add(ticks) + a.add(closer)
    other = b.add(shuffled) + b.add(closer)
    exact = [(x.t, x.o, x.h, x.l, x.c, x.n) for x in got]
    assert exact == [(x.t, x.o, x.h, x.l, x.c, x.n) for x in other]
    # Sums in another order differ in the last bit only.
    assert [v for x in got for v in (x.v, x.vwap)] == pytest.approx(
        [v for x in other for v in (x.v, x.vwap)]
    )
    for bar in got:
        inside = sorted(
            (t for t in ticks if t.ts // 1_000_000 // 1000 * 1000 == bar.t), key=lambda t: t.ts
        )
        assert (bar.o, bar.c) == (inside[0].price, inside[-1].price)
        assert (bar.h, bar.l) == (max(t.price for t in inside), min(t.price for t in inside))
        assert bar.n == len(inside) and bar.v == pytest.approx(sum(t.size for t in inside))
