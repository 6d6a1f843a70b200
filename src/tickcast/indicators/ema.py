"""Exponential moving average, matching ``talib.EMA``.

Smoothing factor ``k = 2 / (period + 1)``. Warm-up as TA-Lib's default
compatibility mode: ``None`` for the first ``period - 1`` values, then the
seed is the simple mean of the first ``period`` values (summed left to right,
as TA-Lib does), returned on the ``period``-th value. Afterwards
``ema = (value - ema) * k + ema``, TA-Lib's own expression.

TA-Lib's compiled library fuses that multiply-add (one rounding instead of
two); Python 3.11 has no ``math.fma``, so results can differ in the last bit.
The EMA recursion is a contraction, so those differences do not accumulate.
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


class EMA(Indicator):
    """Exponentially weighted mean, seeded by the SMA of the first window."""

    __slots__ = ("_count", "_ema", "_k", "_sum", "period")

    kind = "ema"

    period: int
    _k: float
    _count: int
    _sum: float
    _ema: float

    def __init__(self, period: SupportsIndex) -> None:
        self.period = check_period("period", period)
        self._k = 2.0 / (self.period + 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._ema = 0.0
        self._ready = False

    def update(self, value: float) -> float | None:
        """Add one value; the EMA once ``period`` values have been seen."""
        if not isfinite(value):
            raise non_finite("value", value)
        if self._ready:
            ema = self._ema
            ema = (value - ema) * self._k + ema
            self._ema = ema
            return ema
        self._sum += value
        self._count += 1
        if self._count < self.period:
            return None
        self._ema = self._sum / self.period
        self._ready = True
        return self._ema

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    def _dump(self) -> dict[str, Any]:
        return {"count": self._count, "sum": self._sum, "ema": self._ema, "ready": self._ready}

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD))
        new._count = record.get_int("count", 0, new.period)
        new._sum = record.get_float("sum")
        new._ema = record.get_float("ema")
        new._ready = record.get_bool("ready")
        if new._ready != (new._count == new.period):
            raise ValueError("ema state field 'ready' contradicts 'count'")
        return new
