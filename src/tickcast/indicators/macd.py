"""MACD (fast EMA - slow EMA, its signal EMA and histogram), matching ``talib.MACD``.

TA-Lib does not run the two EMAs independently: both are *seeded on the same
bar*, number ``slow`` (index ``slow - 1``). The slow EMA's seed is the mean of
the first ``slow`` values; the fast EMA's seed is the mean of the ``fast``
values ending on that same bar (values ``slow - fast + 1 .. slow``), not of the
first ``fast`` values. The MACD line starts there; the signal EMA (period
``signal``) is seeded by the mean of the first ``signal`` MACD values, so the
first complete output - the only kind ``update`` returns - is on value number
``slow + signal - 1`` (34 for 12/26/9), TA-Lib's lookback
``slow + signal - 2``. Every EMA step is ``(x - ema) * k + ema`` with
``k = 2 / (period + 1)``; the histogram is ``macd - signal``.

Differences from TA-Lib: it silently swaps ``fast`` and ``slow`` when
``fast > slow``; here that is a ``ValueError``. TA-Lib's compiled library
fuses the EMA multiply-add, so values can differ in the last bit; MACD and
histogram are differences of price-level EMAs, so compare them relative to
the price, not to themselves, near zero crossings.
"""

from __future__ import annotations

from math import isfinite
from typing import Any, NamedTuple, Self, SupportsIndex

from tickcast.indicators._base import (
    MAX_PERIOD,
    Indicator,
    StateReader,
    check_period,
    non_finite,
)


class MACDValue(NamedTuple):
    """One MACD output."""

    macd: float
    signal: float
    histogram: float


# NamedTuple's generated __new__ is a Python-level call; this skips it (hot path).
_new_value = tuple.__new__


class MACD(Indicator):
    """Moving average convergence/divergence with TA-Lib's seeding."""

    __slots__ = (
        "_count",
        "_fast_ema",
        "_fast_sum",
        "_k_fast",
        "_k_signal",
        "_k_slow",
        "_signal",
        "_signal_sum",
        "_slow_ema",
        "_slow_sum",
        "fast",
        "signal",
        "slow",
    )

    kind = "macd"

    fast: int
    slow: int
    signal: int
    _k_fast: float
    _k_slow: float
    _k_signal: float
    _count: int
    _fast_sum: float
    _slow_sum: float
    _signal_sum: float
    _fast_ema: float
    _slow_ema: float
    _signal: float

    def __init__(
        self, fast: SupportsIndex = 12, slow: SupportsIndex = 26, signal: SupportsIndex = 9
    ) -> None:
        self.fast = check_period("fast", fast)
        self.slow = check_period("slow", slow)
        self.signal = check_period("signal", signal)
        if self.fast > self.slow:
            raise ValueError(f"fast ({fast}) must not be longer than slow ({slow})")
        self._k_fast = 2.0 / (self.fast + 1)
        self._k_slow = 2.0 / (self.slow + 1)
        self._k_signal = 2.0 / (self.signal + 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._signal_sum = 0.0
        self._fast_ema = 0.0
        self._slow_ema = 0.0
        self._signal = 0.0
        self._ready = False

    def update(self, value: float) -> MACDValue | None:
        """Add one value; MACD, signal and histogram once all three exist."""
        if not isfinite(value):
            raise non_finite("value", value)
        if self._ready:
            fast = self._fast_ema
            fast = (value - fast) * self._k_fast + fast
            slow = self._slow_ema
            slow = (value - slow) * self._k_slow + slow
            macd = fast - slow
            signal = self._signal
            signal = (macd - signal) * self._k_signal + signal
            self._fast_ema = fast
            self._slow_ema = slow
            self._signal = signal
            return _new_value(MACDValue, (macd, signal, macd - signal))
        return self._warm_up(value)

    def _warm_up(self, value: float) -> MACDValue | None:
        index = self._count
        self._count = index + 1
        if index < self.slow:
            self._slow_sum += value
            if index >= self.slow - self.fast:
                self._fast_sum += value
            if index < self.slow - 1:
                return None
            # Both seeds land on bar `slow`: TA-Lib aligns the fast EMA with the slow one.
            self._fast_ema = self._fast_sum / self.fast
            self._slow_ema = self._slow_sum / self.slow
        else:
            fast = self._fast_ema
            self._fast_ema = (value - fast) * self._k_fast + fast
            slow = self._slow_ema
            self._slow_ema = (value - slow) * self._k_slow + slow
        macd = self._fast_ema - self._slow_ema
        self._signal_sum += macd
        if index < self.slow + self.signal - 2:
            return None
        self._signal = signal = self._signal_sum / self.signal
        self._ready = True
        return MACDValue(macd, signal, macd - signal)

    def _params(self) -> dict[str, Any]:
        return {"fast": self.fast, "slow": self.slow, "signal": self.signal}

    def _dump(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "fast_sum": self._fast_sum,
            "slow_sum": self._slow_sum,
            "signal_sum": self._signal_sum,
            "fast_ema": self._fast_ema,
            "slow_ema": self._slow_ema,
            "signal_ema": self._signal,
            "ready": self._ready,
        }

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(
            record.get_int("fast", 1, MAX_PERIOD),
            record.get_int("slow", 1, MAX_PERIOD),
            record.get_int("signal", 1, MAX_PERIOD),
        )
        new._count = record.get_int("count", 0, new.slow + new.signal - 1)
        new._fast_sum = record.get_float("fast_sum")
        new._slow_sum = record.get_float("slow_sum")
        new._signal_sum = record.get_float("signal_sum")
        new._fast_ema = record.get_float("fast_ema")
        new._slow_ema = record.get_float("slow_ema")
        new._signal = record.get_float("signal_ema")
        new._ready = record.get_bool("ready")
        if new._ready != (new._count == new.slow + new.signal - 1):
            raise ValueError("macd state field 'ready' contradicts 'count'")
        return new
