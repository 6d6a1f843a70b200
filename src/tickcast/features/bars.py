"""Time bars by event time (pure).

Policy, in one place:
- A tick belongs to the bar [t, t + bar) that contains its event time; open and
  close are the prices of the earliest and latest event times, not arrival order.
- A bar closes when the watermark (the newest event time seen, or a clock
  message's time) passes its end plus the grace period. Closing a bar closes
  every earlier bar too, so bars leave in time order.
- A tick for a bar that has already closed is late: counted and dropped (the
  bar it belonged to was published; rewriting history would break `seq`).
- Empty intervals make no bar.
- Trades and vendor bars build bars; quotes update nothing here.
- A vendor bar of exactly the configured length is taken as a bar directly;
  one of another length is folded in like a trade at its close, with its volume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tickcast.schema import Bar

NS_PER_MS = 1_000_000


class Tick(Protocol):
    """The fields bars read: `tickcast.schema.Tick` or the features decoder's mirror."""

    @property
    def ts(self) -> int: ...
    @property
    def price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def open(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...
    @property
    def low(self) -> float | None: ...
    @property
    def vwap(self) -> float | None: ...
    @property
    def trades(self) -> int | None: ...
    @property
    def bar_s(self) -> int | None: ...


@dataclass(slots=True)
class OpenBar:
    t: int  # start, epoch ms
    o: float
    h: float
    low: float
    c: float
    v: float
    pv: float  # sum(price * size): the VWAP numerator
    n: int
    first_ns: int
    last_ns: int

    @classmethod
    def start(cls, t: int, tick: Tick) -> OpenBar:
        b = cls(t, tick.price, tick.price, tick.price, tick.price, 0.0, 0.0, 0, tick.ts, tick.ts)
        b.add(tick)
        return b

    def add(self, tick: Tick) -> None:
        p = tick.price
        if tick.kind == "bar":
            hi, lo = tick.high or p, tick.low or p
            self.h, self.low = max(self.h, hi), min(self.low, lo)
            self.pv += (tick.vwap or p) * tick.size
            self.n += tick.trades or 1
        else:
            self.h, self.low = max(self.h, p), min(self.low, p)
            self.pv += p * tick.size
            self.n += 1
        self.v += tick.size
        if tick.ts < self.first_ns:
            self.first_ns, self.o = tick.ts, (tick.open or p) if tick.kind == "bar" else p
        if tick.ts >= self.last_ns:
            self.last_ns, self.c = tick.ts, p

    def close(self) -> Bar:
        vwap = self.pv / self.v if self.v > 0 else self.c
        return Bar(
            t=self.t, o=self.o, h=self.h, l=self.low, c=self.c, v=self.v, vwap=vwap, n=self.n
        )

    def record(self) -> list[float | int]:
        return [
            self.t,
            self.o,
            self.h,
            self.low,
            self.c,
            self.v,
            self.pv,
            self.n,
            self.first_ns,
            self.last_ns,
        ]

    @classmethod
    def from_record(cls, r: list[float | int]) -> OpenBar:
        return cls(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), int(r[8]), int(r[9]))


@dataclass(slots=True)
class BarState:
    bar_ms: int
    grace_ms: int
    last_seq: int = 0  # end (epoch ms) of the newest closed bar
    watermark_ns: int = 0
    late: int = 0
    open: dict[int, OpenBar] = field(default_factory=dict)

    def add(self, ticks: Iterable[Tick]) -> list[Bar]:
        """Fold ticks in, in any order; return the bars this closes, oldest first.

        The hot loop of the features stage: a trade is folded in inline (locals,
        no call, no max/min) since it runs once per tick."""
        direct: list[Bar] = []
        bar_ms, last_seq, opened = self.bar_ms, self.last_seq, self.open
        wm, late = self.watermark_ns, 0
        for tick in ticks:
            kind = tick.kind
            if kind == "quote":
                continue
            ts = tick.ts
            ts_ms = ts // NS_PER_MS
            start = ts_ms - ts_ms % bar_ms
            if start + bar_ms <= last_seq:
                late += 1
                continue
            if ts > wm:
                wm = ts
            bar = opened.get(start)
            if kind == "bar":
                if tick.bar_s is not None and tick.bar_s * 1000 == bar_ms:
                    # Vendor bars are stamped with their start time.
                    direct.append(_vendor_bar(tick, start))
                elif bar is None:
                    opened[start] = OpenBar.start(start, tick)
                else:
                    bar.add(tick)
                continue
            if bar is None:
                opened[start] = OpenBar.start(start, tick)
                continue
            p, size = tick.price, tick.size
            if p > bar.h:
                bar.h = p
            elif p < bar.low:
                bar.low = p
            bar.pv += p * size
            bar.v += size
            bar.n += 1
            if ts < bar.first_ns:
                bar.first_ns, bar.o = ts, p
            if ts >= bar.last_ns:
                bar.last_ns, bar.c = ts, p
        self.watermark_ns = wm
        self.late += late
        closed = self._close_until(wm) + direct
        if direct:
            closed.sort(key=lambda b: b.t)
            self.last_seq = max(self.last_seq, closed[-1].t + self.bar_ms)
        return closed

    def advance(self, now_ns: int) -> list[Bar]:
        """A clock tick: time has passed even if no trade arrived."""
        self.watermark_ns = max(self.watermark_ns, now_ns)
        return self._close_until(self.watermark_ns)

    def _close_until(self, watermark_ns: int) -> list[Bar]:
        cutoff_ms = watermark_ns // NS_PER_MS - self.grace_ms
        due = sorted(t for t in self.open if t + self.bar_ms <= cutoff_ms)
        if not due:
            return []
        bars = [self.open.pop(t).close() for t in due]
        # Everything up to the newest closed end is now history.
        self.last_seq = max(self.last_seq, due[-1] + self.bar_ms)
        return bars

    def record(self) -> dict[str, object]:
        return {
            "last_seq": self.last_seq,
            "wm": self.watermark_ns,
            "late": self.late,
            "open": [b.record() for b in self.open.values()],
        }

    @classmethod
    def from_record(cls, bar_ms: int, grace_ms: int, r: dict[str, object]) -> BarState:
        bars = [OpenBar.from_record(x) for x in r.get("open", [])]  # type: ignore[attr-defined]
        return cls(
            bar_ms=bar_ms,
            grace_ms=grace_ms,
            last_seq=int(r.get("last_seq", 0)),  # type: ignore[call-overload]
            watermark_ns=int(r.get("wm", 0)),  # type: ignore[call-overload]
            late=int(r.get("late", 0)),  # type: ignore[call-overload]
            open={b.t: b for b in bars},
        )


def _vendor_bar(tick: Tick, start: int) -> Bar:
    return Bar(
        t=start,
        o=tick.open or tick.price,
        h=tick.high or tick.price,
        l=tick.low or tick.price,
        c=tick.price,
        v=tick.size,
        vwap=tick.vwap or tick.price,
        n=tick.trades or 0,
    )
