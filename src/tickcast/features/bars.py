"""Time bars by event time (pure).

Policy, in one place (README "Bars on real feeds" says the same for users):
- A tick belongs to the bar [t, t + bar) that contains its event time; open and
  close are the prices of the earliest and latest event times, not arrival order.
  Ties in event time are ordered by the vendor's sequence number (`seq`: Polygon
  `q`, Alpaca trade id), then by arrival: open is the first of equals to arrive,
  close the last.
- Trade conditions decide what a trade updates (`flags`, set by ingest from the
  vendor's condition table): high/low, open/close ("last"), volume (with VWAP and
  the trade count). A bar whose trades may set no price takes the previous bar's
  close as a flat price, or its own trades' prices when there is none.
- One basis per bar, by precedence: a vendor bar of exactly the bar length
  (Alpaca `b`/`u`, Polygon `AM` for 60 s bars) > shorter vendor bars (Polygon `A`,
  1-minute history into 5-minute bars) > trades. While the bar is open a higher
  basis replaces a lower one and lower ones are then ignored, so a feed sending
  both trades and bars never counts a trade twice and never makes two bars with
  one `seq`. An updated vendor bar (higher `revision`, Alpaca `u`) replaces the
  one it revises. A vendor bar longer than the bar length cannot be split and is
  ignored.
- Cancels and corrections name the trade they amend (`ref`). Applied to a bar
  still open: the bar is folded again from its indexed trades. Anything else (bar
  published, trade never seen, bar with unindexed trades) is returned as rejected
  for the dead-letter topic (`correction_not_applied`).
- A bar closes when the watermark passes its end plus the grace period. The
  watermark follows event time, but a tick ahead of the wall clock (clock skew, a
  bad timestamp) moves it only when a second such tick confirms it: one bad
  timestamp never makes live ticks late. Closing a bar closes every earlier bar
  too, so bars leave in time order.
- A tick for a bar that has already closed is late: counted and dropped.
- Empty intervals make no bar. Quotes update nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tickcast.schema import FLAG_HIGH_LOW, FLAG_LAST, FLAG_VOLUME, FLAGS_ALL, Bar

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# The basis a bar is built from, by precedence (see the module doc).
TRADES, SUBBARS, VENDOR = 0, 1, 2

_NAN = math.nan
_NOT_TRADES = frozenset({"quote", "cancel", "correct", "bar"})


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
    @property
    def seq(self) -> int | None: ...
    @property
    def flags(self) -> int | None: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def revision(self) -> int | None: ...


# An indexed trade: [ts, seq, arrival, price, size, flags]. What a cancel needs to fold
# the bar again without the trade; stored beside the record (features/store.py).
Entry = list[float | int]


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
    first_seq: int = -1
    last_seq: int = -1
    basis: int = TRADES
    rev: int = 0  # revision of a VENDOR basis bar
    unindexed: int = 0  # trades folded without a `ref`: a cancel cannot refold this bar
    arrivals: int = 0  # indexed trades so far: the arrival order of the next one
    flat: float | None = None  # a price of a trade that may not set open/close

    @classmethod
    def empty(cls, t: int, basis: int = TRADES) -> OpenBar:
        return cls(t, _NAN, -math.inf, math.inf, _NAN, 0.0, 0.0, 0, 1 << 62, -1, basis=basis)

    @classmethod
    def start(cls, t: int, ts: int, sq: int, p: float, size: float) -> OpenBar:
        """A bar opened by a trade that updates every part (the common case)."""
        return cls(t, p, p, p, p, size, p * size, 1, ts, ts, sq, sq)

    def fold_trade(self, ts: int, sq: int, p: float, size: float, f: int) -> None:
        if f & FLAG_HIGH_LOW:
            if p > self.h:
                self.h = p
            if p < self.low:
                self.low = p
        if f & FLAG_LAST:
            if ts < self.first_ns or (ts == self.first_ns and sq < self.first_seq):
                self.first_ns, self.first_seq, self.o = ts, sq, p
            if ts > self.last_ns or (ts == self.last_ns and sq >= self.last_seq):
                self.last_ns, self.last_seq, self.c = ts, sq, p
        if f & FLAG_VOLUME:
            self.v += size
            self.pv += p * size
            self.n += 1
        if not f & FLAG_LAST and self.flat is None:
            self.flat = p

    def fold_bar(self, tick: Tick, start_ns: int, end_ns: int) -> None:
        """A vendor bar covering [start_ns, end_ns): open at its start, close at its end."""
        p = tick.price
        hi, lo = tick.high or p, tick.low or p
        if hi > self.h:
            self.h = hi
        if lo < self.low:
            self.low = lo
        self.pv += (tick.vwap or p) * tick.size
        self.v += tick.size
        self.n += tick.trades or 1
        if start_ns < self.first_ns:
            self.first_ns, self.o = start_ns, tick.open or p
        if end_ns >= self.last_ns:
            self.last_ns, self.c = end_ns, p

    def close(self, prev_close: float | None) -> Bar:
        o, h, low, c = self.o, self.h, self.low, self.c
        if math.isnan(o):
            # No trade here may set open/close (odd lots, out-of-sequence prints): a
            # flat bar at the previous close, as the tape shows it, else at a price
            # of this bar's own trades; high/low widened to hold it.
            o = c = prev_close if prev_close is not None else float(self.flat or 0.0)
        if h < low:
            h, low = max(o, c), min(o, c)
        else:
            h, low = max(h, o, c), min(low, o, c)
        vwap = self.pv / self.v if self.v > 0 else c
        return Bar(t=self.t, o=o, h=h, l=low, c=c, v=self.v, vwap=vwap, n=self.n)

    def record(self) -> list[float | int | None]:
        # JSON has no NaN or infinity: an unset price is null.
        return [
            self.t,
            None if math.isnan(self.o) else self.o,
            None if self.h == -math.inf else self.h,
            None if self.low == math.inf else self.low,
            None if math.isnan(self.c) else self.c,
            self.v,
            self.pv,
            self.n,
            self.first_ns,
            self.last_ns,
            self.first_seq,
            self.last_seq,
            self.basis,
            self.rev,
            self.unindexed,
            self.arrivals,
            self.flat,
        ]

    @classmethod
    def from_record(cls, r: list[float | int | None]) -> OpenBar:
        o, h, low, c = (
            (_NAN if r[1] is None else r[1]),
            r[2],
            r[3],
            (_NAN if r[4] is None else r[4]),
        )
        b = cls(
            int(r[0]),  # type: ignore[arg-type]
            o,
            -math.inf if h is None else h,
            math.inf if low is None else low,
            c,
            r[5],  # type: ignore[arg-type]
            r[6],  # type: ignore[arg-type]
            int(r[7]),  # type: ignore[arg-type]
            int(r[8]),  # type: ignore[arg-type]
            int(r[9]),  # type: ignore[arg-type]
        )
        if len(r) > 10:
            b.first_seq, b.last_seq, b.basis, b.rev, b.unindexed, b.arrivals = map(int, r[10:16])  # type: ignore[arg-type]
            b.flat = r[16]
        else:
            # Written before seq, basis and the trade index: a bar of trades none of
            # which is indexed, so it refuses cancels rather than fold them wrongly.
            b.unindexed = b.n
        return b


@dataclass(frozen=True, slots=True)
class Amend:
    """A cancel or correction that could not be applied, for the dead-letter topic."""

    ref: str
    kind: str
    reason: str


@dataclass(slots=True)
class BarState:
    bar_ms: int
    grace_ms: int
    last_seq: int = 0  # end (epoch ms) of the newest closed bar
    watermark_ns: int = 0
    late: int = 0
    open: dict[int, OpenBar] = field(default_factory=dict)
    # The newest event time seen that was ahead of the wall clock and not yet
    # confirmed by a second one: held back from the watermark (see the module doc).
    ahead_ns: int = 0
    last_close: float | None = None  # close of the newest closed bar: a flat bar's price
    ignored: int = 0  # ticks a higher basis superseded, vendor bars longer than a bar
    # Per call to `add`: trades to index, index entries to drop (cancelled), and
    # cancels/corrections not applied.
    indexed: list[tuple[int, str, Entry]] = field(default_factory=list, compare=False)
    dropped: list[tuple[int, str]] = field(default_factory=list, compare=False)
    rejected: list[Amend] = field(default_factory=list, compare=False)

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
            # Trades first: almost every tick of a message is one (and, as ever, a kind
            # this loop does not know is folded as a trade).
            if kind == "trade" or kind not in _NOT_TRADES:
                ts = seen = tick.ts
                ts_ms = ts // NS_PER_MS
                start = ts_ms - ts_ms % bar_ms
                if start + bar_ms <= last_seq:
                    late += 1
                    continue
                bar = opened.get(start)
                if bar is not None and bar.basis != TRADES:
                    self.ignored += 1
                else:
                    sq = tick.seq
                    if sq is None:
                        sq = -1
                    f = tick.flags
                    p, size = tick.price, tick.size
                    if f is None:
                        f = FLAGS_ALL
                    if bar is None:
                        if f == FLAGS_ALL:
                            bar = opened[start] = OpenBar.start(start, ts, sq, p, size)
                        else:
                            bar = opened[start] = OpenBar.empty(start)
                            bar.fold_trade(ts, sq, p, size, f)
                    elif f == FLAGS_ALL:
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
                        bar.fold_trade(ts, sq, p, size, f)
                    ref = tick.ref
                    if ref is None:
                        bar.unindexed += 1
                    else:
                        indexed.append((start, ref, [ts, sq, bar.arrivals, p, size, f]))
                        bar.arrivals += 1
            elif kind == "quote":
                continue
            elif kind == "cancel" or kind == "correct":
                amends.append(tick)
                continue
            else:  # kind == "bar": a vendor bar
                ts = tick.ts
                ts_ms = ts // NS_PER_MS
                start = ts_ms - ts_ms % bar_ms
                if start + bar_ms <= last_seq:
                    late += 1
                    continue
                end = self._vendor_bar(tick, start, opened.get(start))
                seen = end if end is not None else ts
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

    def _vendor_bar(self, tick: Tick, start: int, bar: OpenBar | None) -> int | None:
        """Fold a vendor bar by the basis rules; returns its end (ns), what it says about
        the watermark, or None when ignored."""
        bar_ms, bar_s = self.bar_ms, tick.bar_s
        length_ms = bar_s * 1000 if bar_s is not None else 0
        if length_ms > bar_ms:
            self.ignored += 1
            return None
        start_ns = tick.ts
        if length_ms == bar_ms:
            rev = tick.revision or 0
            if (
                bar is not None
                and bar.basis == VENDOR
                and (rev, tick.trades or 0, tick.size)
                < (
                    bar.rev,
                    bar.n,
                    bar.v,
                )
            ):
                self.ignored += 1  # an older revision than the one held
                return None
            if bar is not None and bar.basis != VENDOR and (bar.n or bar.v):
                self.ignored += 1  # the trades or shorter bars this bar replaces
            new = OpenBar.empty(start, VENDOR)
            new.rev = rev
            self.open[start] = new
            new.fold_bar(tick, start * NS_PER_MS, (start + bar_ms) * NS_PER_MS)
            new.n = tick.trades or 0
            return (start + bar_ms) * NS_PER_MS
        end_ns = start_ns + (length_ms * NS_PER_MS if length_ms else 0)
        if bar is None or (bar.basis == TRADES and not (bar.n or bar.v or bar.unindexed)):
            bar = self.open[start] = OpenBar.empty(start, SUBBARS)
        elif bar.basis == VENDOR:
            self.ignored += 1
            return None
        elif bar.basis == TRADES:
            self.ignored += 1  # trades the shorter bars also count
            bar = self.open[start] = OpenBar.empty(start, SUBBARS)
        bar.fold_bar(tick, start_ns, max(end_ns - 1, start_ns))
        return end_ns

    def _amend(self, amends: list[Tick], index: dict[int, dict[str, Entry]]) -> None:
        """Apply cancels and corrections to open bars, after this call's trades."""
        for start, ref, entry in self.indexed:
            index.setdefault(start, {})[ref] = entry
        for tick in amends:
            ref = tick.ref or ""
            found = next((s for s, trades in index.items() if ref in trades), None)
            bar = self.open.get(found) if found is not None else None
            if found is None or bar is None:
                self.rejected.append(Amend(ref, tick.kind, "trade not in a bar still open"))
                continue
            if bar.basis != TRADES:
                self.ignored += 1  # the vendor's bar already reflects the amendment
                continue
            if bar.unindexed:
                reason = "its bar holds trades without a vendor id"
                self.rejected.append(Amend(ref, tick.kind, reason))
                continue
            start, trades = found, index[found]
            if tick.kind == "cancel":
                del trades[ref]
                self.dropped.append((start, ref))
            else:
                old = trades[ref]
                f = tick.flags
                new: Entry = [old[0], old[1], old[2], tick.price, tick.size]
                new.append(FLAGS_ALL if f is None else f)
                trades[ref] = new
                self.indexed.append((start, ref, new))
            self.open[start] = self._refold(start, trades.values(), bar.arrivals)

    @staticmethod
    def _refold(start: int, entries: Iterable[Entry], arrivals: int) -> OpenBar:
        bar = OpenBar.empty(start)
        # An entry at or past `arrivals` was written by a commit that did not happen.
        live = [e for e in entries if e[2] < arrivals]
        for ts, sq, _, p, size, f in sorted(live, key=lambda e: (e[0], e[1], e[2])):
            bar.fold_trade(int(ts), int(sq), float(p), float(size), int(f))
        bar.arrivals = arrivals
        return bar

    def advance(self, now_ns: int) -> list[Bar]:
        """A clock tick: time has passed even if no trade arrived."""
        self.indexed, self.dropped, self.rejected = [], [], []
        self.watermark_ns = max(self.watermark_ns, now_ns)
        if self.ahead_ns <= self.watermark_ns:
            self.ahead_ns = 0
        return self._close_until(self.watermark_ns)

    def _close_until(self, watermark_ns: int) -> list[Bar]:
        cutoff_ms = watermark_ns // NS_PER_MS - self.grace_ms
        due = sorted(t for t in self.open if t + self.bar_ms <= cutoff_ms)
        if not due:
            return []
        bars = []
        for t in due:
            bar = self.open.pop(t).close(self.last_close)
            self.last_close = bar.c
            bars.append(bar)
        # Everything up to the newest closed end is now history.
        self.last_seq = max(self.last_seq, due[-1] + self.bar_ms)
        return bars

    def record(self) -> dict[str, object]:
        return {
            "last_seq": self.last_seq,
            "wm": self.watermark_ns,
            "late": self.late,
            "open": [b.record() for b in self.open.values()],
            "ahead": self.ahead_ns,
            "last_c": self.last_close,
            "ignored": self.ignored,
        }

    @classmethod
    def from_record(cls, bar_ms: int, grace_ms: int, r: dict[str, object]) -> BarState:
        bars = [OpenBar.from_record(x) for x in r.get("open", [])]  # type: ignore[attr-defined]
        last_c = r.get("last_c")
        return cls(
            bar_ms=bar_ms,
            grace_ms=grace_ms,
            last_seq=int(r.get("last_seq", 0)),  # type: ignore[call-overload]
            watermark_ns=int(r.get("wm", 0)),  # type: ignore[call-overload]
            late=int(r.get("late", 0)),  # type: ignore[call-overload]
            open={b.t: b for b in bars},
            ahead_ns=int(r.get("ahead", 0)),  # type: ignore[call-overload]
            last_close=None if last_c is None else float(last_c),  # type: ignore[arg-type]
            ignored=int(r.get("ignored", 0)),  # type: ignore[call-overload]
        )
