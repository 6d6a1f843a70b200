"""The features hot path's faster pieces against the code they replaced, on random input.

`BarState.add` folds trades first, with fewer lookups per tick; `_ReferenceBarState.add`
below is the loop as it was before (tickcast 26d43e4+), kept verbatim as the
reference. `store.encode_entries` cuts one orjson array instead of encoding each
trade-index entry on its own. Both must give exactly what the old code gave: the
same bars, the same state record, the same index writes, rejections and counters,
byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from tickcast.features.bars import (
    NS_PER_MS,
    TRADES,
    Entry,
    OpenBar,
    Tick,
)
from tickcast.features.bars import BarState as BarState
from tickcast.features.store import encode_entries
from tickcast.features.ticks_decoder import FastTick
from tickcast.schema import FLAGS_ALL, Bar

S = 1_000_000_000
T0 = 1_700_000_000 * S


class _ReferenceBarState(BarState):
    """`BarState` with the `add` loop it had before trades were taken first."""

    def add(
        self,
        ticks: Iterable[Tick],
        now_ns: int | None = None,
        index: dict[int, dict[str, Entry]] | None = None,
    ) -> list[Bar]:
        """Fold ticks in, in any order; return the bars this closes, oldest first.

        `now_ns` is the wall clock (None: trust every event time). `index` holds the
        indexed trades of the open bars by start and ref; it must be given when the
        ticks hold a cancel or correction (the stage loads it only then).

        The hot loop of the features stage: a trade that updates every part is folded
        inline (locals, no call) since it runs once per tick."""
        self.indexed, self.dropped, self.rejected = [], [], []
        bar_ms, last_seq, opened = self.bar_ms, self.last_seq, self.open
        indexed = self.indexed
        wm, ahead, late = self.watermark_ns, self.ahead_ns, 0
        trusted = now_ns if now_ns is not None else 1 << 62
        amends: list[Tick] = []
        for tick in ticks:
            kind = tick.kind
            if kind == "quote":
                continue
            if kind == "cancel" or kind == "correct":
                amends.append(tick)
                continue
            ts = tick.ts
            ts_ms = ts // NS_PER_MS
            start = ts_ms - ts_ms % bar_ms
            if start + bar_ms <= last_seq:
                late += 1
                continue
            bar = opened.get(start)
            if kind == "bar":
                end = self._vendor_bar(tick, start, bar)
                seen = end if end is not None else ts
            else:
                seen = ts
                sq = tick.seq
                if sq is None:
                    sq = -1
                f = tick.flags
                ref = tick.ref
                if bar is None:
                    if f is None or f == FLAGS_ALL:
                        bar = opened[start] = OpenBar.start(start, ts, sq, tick.price, tick.size)
                    else:
                        bar = opened[start] = OpenBar.empty(start)
                        bar.fold_trade(ts, sq, tick.price, tick.size, f)
                elif bar.basis != TRADES:
                    self.ignored += 1
                elif f is None or f == FLAGS_ALL:
                    p, size = tick.price, tick.size
                    if p > bar.h:
                        bar.h = p
                    if p < bar.low:
                        bar.low = p
                    bar.pv += p * size
                    bar.v += size
                    bar.n += 1
                    if ts < bar.first_ns or (ts == bar.first_ns and sq < bar.first_seq):
                        bar.first_ns, bar.first_seq, bar.o = ts, sq, p
                    if ts > bar.last_ns or (ts == bar.last_ns and sq >= bar.last_seq):
                        bar.last_ns, bar.last_seq, bar.c = ts, sq, p
                else:
                    bar.fold_trade(ts, sq, tick.price, tick.size, f)
                if bar.basis == TRADES:
                    if ref is None:
                        bar.unindexed += 1
                    else:
                        entry: Entry = [ts, sq, bar.arrivals, tick.price, tick.size]
                        entry.append(FLAGS_ALL if f is None else f)
                        bar.arrivals += 1
                        indexed.append((start, ref, entry))
            if seen > wm:
                if seen <= trusted:
                    wm = seen
                elif seen > ahead:
                    # Ahead of the wall clock: the older of two such ticks is confirmed.
                    wm, ahead = max(wm, ahead), seen
                else:
                    wm = max(wm, seen)
        if amends:
            self._amend(amends, index if index is not None else {})
        self.watermark_ns = wm
        self.ahead_ns = ahead if ahead > wm else 0
        self.late += late
        return self._close_until(wm)


def _tick(
    rng: random.Random, serial: int, now: int, seen: list[str], stamps: list[int]
) -> FastTick:
    """One random tick of any kind: out of order, ties, late, odd flags, vendor bars."""
    roll = rng.random()
    jitter = rng.random()
    if jitter < 0.3:
        ts = rng.choice(stamps[-20:]) if stamps else now  # ties, the newest too
    elif jitter < 0.8:
        ts = now - rng.randint(0, S // 3)  # out of order, before the ties
    elif jitter < 0.9:
        ts = now + rng.randint(0, S // 3)  # out of order, after them
    elif jitter < 0.97:
        ts = now - rng.randint(0, 4 * S)  # late, or a bar already replaced
    elif jitter < 0.998:
        ts = now + rng.randint(0, S)
    else:
        ts = now + rng.randint(0, 5 * S)  # far ahead: of the wall clock too
    ts = max(ts, 1)
    stamps.append(ts)
    price = round(rng.uniform(90.0, 110.0), rng.choice([0, 2, 4]))
    size = float(rng.choice([0, 1, 100, rng.randint(1, 500)]))
    seq = rng.choice([None, None, serial, rng.randint(0, 2)])
    flags = rng.choice([None, None, FLAGS_ALL, 0, 1, 2, 3, 4, 5, 6])
    if roll < 0.85:
        ref = None if rng.random() < 0.1 else f"r{serial}"
        if ref is not None:
            seen.append(ref)
        return FastTick(ts=ts, price=price, size=size, seq=seq, flags=flags, ref=ref)
    if roll < 0.9:
        mid = price
        return FastTick(ts=ts, price=mid, kind="quote", bid=mid - 0.01, ask=mid + 0.01)
    if roll < 0.97:
        ref = rng.choice(seen) if seen and rng.random() < 0.8 else f"missing{serial}"
        if rng.random() < 0.5:
            return FastTick(ts=ts, price=price, size=size, kind="cancel", ref=ref)
        return FastTick(ts=ts, price=price, size=size, kind="correct", flags=flags, ref=ref)
    bar_s = rng.choice([None, 1, 1, 2, 60])
    hi = price + rng.choice([0.0, 0.5])
    return FastTick(
        ts=ts - ts % (S // 2) if rng.random() < 0.5 else ts,
        price=price,
        size=size,
        kind="bar",
        open=rng.choice([None, price]),
        high=rng.choice([None, hi]),
        low=rng.choice([None, price - 0.25]),
        vwap=rng.choice([None, price]),
        trades=rng.choice([None, 0, 3]),
        bar_s=bar_s,
        revision=rng.choice([None, 0, 1, 2]),
    )


def _snapshot(bs: BarState, bars: list[Bar]) -> bytes:
    return orjson.dumps(
        [
            [b.model_dump() for b in bars],
            bs.record(),
            bs.indexed,
            bs.dropped,
            [(a.ref, a.kind, a.reason) for a in bs.rejected],
        ]
    )


@pytest.mark.parametrize("seed", range(40))
def test_add_gives_what_the_reference_loop_gave(seed: int) -> None:
    rng = random.Random(seed)
    grace = rng.choice([0, 200, 1500, 5000])
    bar_ms = rng.choice([1000, 2000])
    new, ref = BarState(bar_ms, grace), _ReferenceBarState(bar_ms, grace)
    index_new: dict[int, dict[str, Entry]] = {}
    index_ref: dict[int, dict[str, Entry]] = {}
    now, serial = T0, 0
    seen: list[str] = []
    stamps: list[int] = []
    for _ in range(60):
        ticks = []
        for _ in range(rng.choice([1, 2, 5, 40, 200])):
            serial += 1
            ticks.append(_tick(rng, serial, now, seen, stamps))
        now += rng.randint(0, S // 3)
        wall = rng.choice([None, now, now - 2 * S])
        amends = any(t.kind in ("cancel", "correct") for t in ticks)
        got = new.add(ticks, now_ns=wall, index=index_new if amends else None)
        want = ref.add(ticks, now_ns=wall, index=index_ref if amends else None)
        assert _snapshot(new, got) == _snapshot(ref, want)
        # The store's trade index, as the stage would keep it between messages.
        for idx, bs in ((index_new, new), (index_ref, ref)):
            for start, r, entry in bs.indexed:
                idx.setdefault(start, {})[r] = entry
            for start, r in bs.dropped:
                idx.get(start, {}).pop(r, None)
        assert orjson.dumps(index_new, option=orjson.OPT_NON_STR_KEYS) == orjson.dumps(
            index_ref, option=orjson.OPT_NON_STR_KEYS
        )


def test_an_unknown_kind_is_still_folded_as_a_trade() -> None:
    """What the old loop did with a kind it did not name (only a Tick-like object can
    carry one: the wire models allow five kinds)."""

    class Odd:
        def __init__(self, ts: int, price: float) -> None:
            self.ts, self.price, self.size, self.kind = ts, price, 1.0, "odd"
            self.seq = self.flags = self.ref = None

    new, ref = BarState(1000, 0), _ReferenceBarState(1000, 0)
    ticks = [Odd(T0 + 1, 10.0), Odd(T0 + S + 1, 11.0)]
    got, want = new.add(ticks), ref.add(ticks)  # type: ignore[arg-type]
    assert got and _snapshot(new, got) == _snapshot(ref, want)


_number = st_.one_of(
    st_.integers(min_value=-(2**63), max_value=2**64 - 1),
    st_.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300, deadline=None)
@given(st_.lists(st_.lists(_number, max_size=7), max_size=30))
def test_encode_entries_is_orjson_of_each_entry(entries: list[list[float | int]]) -> None:
    assert encode_entries(entries) == [orjson.dumps(e) for e in entries]


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [[]],
        [[], [], [1]],
        [["a],[b"], [1]],  # the separator inside a string: encoded one by one
        [[[1], [2]], [3]],  # nested lists
        [["line\nbreak"], [1.5, -0.0, 1e300, 5e-324]],
        [[1_700_000_000_000_000_000, 7, 0, 100.25, 250.0, 7]] * 3,
    ],
)
def test_encode_entries_edges(entries: list[list[object]]) -> None:
    assert encode_entries(entries) == [orjson.dumps(e) for e in entries]  # type: ignore[arg-type]
