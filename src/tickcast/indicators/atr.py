"""Average true range with Wilder smoothing, matching ``talib.ATR``.

True range needs the previous close, so (as in TA-Lib) the first bar only
primes it and has no true range. The seed ATR is the simple mean of the true
ranges of bars 2 .. ``period + 1`` (summed left to right), returned on bar
number ``period + 1`` (TA-Lib's lookback ``period``); before that ``update``
returns ``None``. Afterwards ``atr = (atr * (period - 1) + tr) / period``, in
TA-Lib's order of operations. With ``period == 1`` this is the true range
itself, which is also what TA-Lib returns.

The true range is computed as ``max(high, prev) - min(low, prev)``, which for
``high >= low`` is bit-identical to TA-Lib's ``max(high - low, |high - prev|,
|low - prev|)`` and cheaper; inverted bars (``high < low``), which TA-Lib also
accepts, take TA-Lib's formula.
"""

from __future__ import annotations

from math import isfinite
from typing import Any, Self, SupportsIndex

from tickcast.indicators._base import (
    MAX_PERIOD,
    Indicator,
    StateReader,
    check_period,
    non_finite,
)


class ATR(Indicator):
    """Wilder's average true range of (high, low, close) bars."""

    __slots__ = ("_atr", "_close", "_count", "_n", "_n1", "_sum", "period")

    kind = "atr"

    period: int
    _n: float
    _n1: float
    _count: int
    _close: float
    _sum: float
    _atr: float

    def __init__(self, period: SupportsIndex = 14) -> None:
        self.period = check_period("period", period)
        # Float copies: float * int misses CPython's fast float path.
        self._n = float(self.period)
        self._n1 = float(self.period - 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0  # bars seen, up to period + 1
        self._close = 0.0
        self._sum = 0.0
        self._atr = 0.0
        self._ready = False

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add one bar; the ATR once ``period`` true ranges have been seen."""
        if not isfinite(high + low + close):  # any NaN or ±inf (or an overflowing sum)
            raise _bad_bar(high, low, close)
        prev = self._close
        self._close = close
        if self._ready:
            if low <= high:
                tr = (high if high > prev else prev) - (low if low < prev else prev)
            else:
                tr = max(high - low, abs(high - prev), abs(low - prev))
            atr = (self._atr * self._n1 + tr) / self._n
            self._atr = atr
            return atr
        return self._warm_up(high, low, prev)

    def _warm_up(self, high: float, low: float, prev: float) -> float | None:
        self._count += 1
        if self._count == 1:
            return None
        self._sum += max(high - low, abs(high - prev), abs(low - prev))
        if self._count <= self.period:
            return None
        self._atr = self._sum / self.period
        self._ready = True
        return self._atr

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    def _dump(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "close": self._close,
            "sum": self._sum,
            "atr": self._atr,
            "ready": self._ready,
        }

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD))
        new._count = record.get_int("count", 0, new.period + 1)
        new._close = record.get_float("close")
        new._sum = record.get_float("sum")
        new._atr = record.get_float("atr")
        new._ready = record.get_bool("ready")
        if new._ready != (new._count == new.period + 1):
            raise ValueError("atr state field 'ready' contradicts 'count'")
        return new


def _bad_bar(high: float, low: float, close: float) -> ValueError:
    for name, value in (("high", high), ("low", low), ("close", close)):
        if not isfinite(value):
            return non_finite(name, value)
    return ValueError(f"high + low + close overflows: {high!r}, {low!r}, {close!r}")
