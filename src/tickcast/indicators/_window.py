"""Ring-buffer windows with drift-free sums and shifted moments.

``MomentsWindow`` is the small base of BollingerBands, ZScore and
RealizedVolatility. It keeps the last ``n`` values in a ring buffer and, for a
shift ``K``, the running sums ``S = sum(x - K)`` and ``Q = sum((x - K)**2)``;
the centred sum of squares is ``C = Q - S*S/n``, the variance ``C/n`` (or
``C/(n-1)``). The subclasses write the per-update arithmetic out inline (a
helper call per update costs more than the arithmetic); this module holds the
cold paths: warm-up, wrap, refresh, state.

Why a shift: the identity holds for any ``K``, but its rounding error scales
with ``(x - K)**2`` rather than ``x**2``. ``K`` starts as a window member and
is moved to the window mean at every ring wrap (an O(1) change of origin), so
a variance of 1e-12 at a price of 1e4 keeps its digits; a plain
``E[x^2] - E[x]^2`` loses ``log10(x^2 / var)`` of them.

Why refresh: running sums pick up one rounding per update. They are
recomputed exactly (``math.fsum``, ``K`` = newest value) on the first wrap
after ``REFRESH_UPDATES`` updates, so error never accumulates beyond a few
hundred updates, for one O(n) pass per ``max(n, 256)`` updates: amortised
O(1). ``SMA`` uses the same schedule for its sum.

Precision guard: ``err`` sums the squared terms added and removed since the
last refresh, which bounds the rounding error accumulated in ``C`` by
``8 * eps * (updates + 2) * err``. Whenever that bound exceeds ``PRECISION``
times ``C`` (after a spike or a level shift leaves the window, or when the
window turns constant, e.g. a run of zero-volume bars) the sums are refreshed
before use, so ``C`` is always good to about ``PRECISION`` relative - exactly
0 for a constant window - instead of noise a z-score would divide by. After a
refresh ``C >= Q/(n+1)`` (``K`` is a window member), so the guard fires at
most once per such event, keeping the amortised cost O(1).
"""

from __future__ import annotations

import sys
from math import fsum
from typing import Any, SupportsIndex

from tickcast.indicators._base import Indicator, StateReader, check_period

REFRESH_UPDATES = 256
"""Minimum number of updates between two scheduled exact recomputations."""

PRECISION = 1e-9
"""Relative accuracy the precision guard keeps ``C`` to (rigorous bound, typically far better)."""

_EPS = sys.float_info.epsilon


def wraps_per_refresh(period: int) -> int:
    """Ring-buffer wraps between refreshes: at least ``REFRESH_UPDATES`` updates."""
    return -(-REFRESH_UPDATES // period)


def refresh(buf: list[float], shift: float) -> tuple[float, float]:
    """``S`` and ``Q`` of a full window around ``shift``, each summed exactly."""
    devs = [x - shift for x in buf]
    return fsum(devs), fsum([d * d for d in devs])


class MomentsWindow(Indicator):
    """Ring buffer of the last ``period`` values with shifted, refreshed moments.

    ``_pos`` counts down: the slot written next is ``_pos - 1`` and 0 means the
    ring just wrapped, which the hot path tests without loading ``period``.
    The hot path keeps ``C > _tol * err``; anything else goes through ``_settle``.
    Bollinger, ZScore and RealizedVolatility inline that step on purpose: a
    shared method would add a call (~45 ns, ~5 % of Bollinger's update) to the
    path the talipp comparison in docs/BENCHMARKS.md measures.
    """

    __slots__ = ("_buf", "_err", "_every", "_pos", "_q", "_s", "_shift", "_tol", "_wraps", "period")

    period: int
    _every: int
    _tol: float
    _buf: list[float]
    _pos: int
    _wraps: int
    _shift: float
    _s: float
    _q: float
    _err: float

    def __init__(self, period: SupportsIndex, minimum: int = 1) -> None:
        self.period = check_period("period", period, minimum)
        self._every = wraps_per_refresh(self.period)
        # Capped so that very long windows, whose worst-case bound is loose, are
        # not refreshed (O(n) each) on ordinary data.
        self._tol = min(8.0 * _EPS * (self.period * self._every + 2) / PRECISION, 1e-3)
        self._clear_window()

    def _clear_window(self) -> None:
        self._buf = [0.0] * self.period
        self._pos = self.period
        self._wraps = self._every
        self._shift = 0.0
        self._s = 0.0
        self._q = 0.0
        self._err = 0.0
        self._ready = False

    def _fill(self, value: float) -> float | None:
        """Warm-up step: ``C`` once the window is full, else ``None``."""
        pos = self._pos - 1
        self._buf[pos] = value
        if pos:
            self._pos = pos
            return None
        self._pos = self.period
        self._ready = True
        return self._refresh(value)

    def _settle(self, value: float, pos: int, s: float, q: float, err: float) -> float:
        """Slow path of an update (the ring wrapped, or the guard fired); returns ``C``."""
        n = self.period
        if not pos:
            pos = n
            self._wraps -= 1
            if not self._wraps:
                self._pos = pos
                return self._refresh(value)
            # Move K to the window mean: a K left behind by a trending series makes
            # (x - K)**2, and with it the rounding error, grow.
            k0 = self._shift
            k1 = k0 + s / n
            dk = k1 - k0  # exact whenever k0 and k1 are within a factor of 2, as prices are
            err += q
            q -= dk * (2.0 * s - n * dk)
            s -= n * dk
            self._shift = k1
        self._pos = pos
        c = q - s * s / n
        if c <= self._tol * err and err > 0.0:
            return self._refresh(value)
        self._s = s
        self._q = q
        self._err = err
        return c

    def _refresh(self, newest: float) -> float:
        self._wraps = self._every
        self._shift = newest
        s, q = refresh(self._buf, newest)
        self._s = s
        self._q = q
        self._err = q
        return q - s * s / self.period

    def _dump(self) -> dict[str, Any]:
        return {
            "buf": list(self._buf),
            "pos": self._pos,
            "wraps": self._wraps,
            "shift": self._shift,
            "s": self._s,
            "q": self._q,
            "err": self._err,
            "ready": self._ready,
        }

    def _load_window(self, record: StateReader) -> None:
        self._buf = record.get_floats("buf", self.period)
        self._pos = record.get_int("pos", 1, self.period)
        self._wraps = record.get_int("wraps", 1, self._every)
        self._shift = record.get_float("shift")
        self._s = record.get_float("s")
        self._q = record.get_float("q")
        self._err = record.get_float("err")
        self._ready = record.get_bool("ready")
