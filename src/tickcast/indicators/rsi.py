"""Relative strength index with Wilder smoothing, matching ``talib.RSI``.

Warm-up (TA-Lib's default, not Metastock, compatibility): the first value only
primes the previous price; the next ``period`` changes are summed left to right
into gain and loss totals, which divided by ``period`` give Wilder's seed
averages. The first RSI is returned on value number ``period + 1`` (TA-Lib's
lookback ``period``); until then ``update`` returns ``None``.

Afterwards each average is ``(avg * (period - 1) + move) / period`` in TA-Lib's
order of operations, and ``RSI = 100 * gain / (gain + loss)``. A window with
no movement at all (``gain + loss == 0``) gives 0.0, as TA-Lib does. Results
can differ from TA-Lib in the last bit only: its build fuses multiply-adds.
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


class RSI(Indicator):
    """Wilder's RSI in [0, 100]."""

    __slots__ = ("_count", "_gain", "_loss", "_n", "_n1", "_prev", "period")

    kind = "rsi"

    period: int
    _n: float
    _n1: float
    _count: int
    _prev: float
    _gain: float
    _loss: float

    def __init__(self, period: SupportsIndex = 14) -> None:
        self.period = check_period("period", period)
        # Float copies: float * int misses CPython's fast float path.
        self._n = float(self.period)
        self._n1 = float(self.period - 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0  # values seen, up to period + 1
        self._prev = 0.0
        self._gain = 0.0
        self._loss = 0.0
        self._ready = False

    def update(self, value: float) -> float | None:
        """Add one value; the RSI once ``period`` changes have been seen."""
        if not isfinite(value):
            raise non_finite("value", value)
        move = value - self._prev
        self._prev = value
        if self._ready:
            n1 = self._n1
            n = self._n
            if move < 0.0:
                gain = self._gain * n1 / n
                loss = (self._loss * n1 - move) / n
            else:
                gain = (self._gain * n1 + move) / n
                loss = self._loss * n1 / n
            self._gain = gain
            self._loss = loss
            total = gain + loss
            return 100.0 * (gain / total) if total != 0.0 else 0.0
        return self._warm_up(move)

    def _warm_up(self, move: float) -> float | None:
        self._count += 1
        if self._count == 1:
            return None
        if move < 0.0:
            self._loss -= move
        else:
            self._gain += move
        if self._count <= self.period:
            return None
        self._gain /= self.period
        self._loss /= self.period
        self._ready = True
        total = self._gain + self._loss
        return 100.0 * (self._gain / total) if total != 0.0 else 0.0

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    def _dump(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "prev": self._prev,
            "gain": self._gain,
            "loss": self._loss,
            "ready": self._ready,
        }

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD))
        new._count = record.get_int("count", 0, new.period + 1)
        new._prev = record.get_float("prev")
        new._gain = record.get_float("gain")
        new._loss = record.get_float("loss")
        new._ready = record.get_bool("ready")
        if new._ready != (new._count == new.period + 1):
            raise ValueError("rsi state field 'ready' contradicts 'count'")
        return new
