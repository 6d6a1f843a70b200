"""Simple moving average, matching ``talib.SMA``.

Warm-up: ``update`` returns ``None`` for the first ``period - 1`` values and the
mean of the first window on the ``period``-th, the bar of TA-Lib's first
non-NaN (lookback ``period - 1``).

Accuracy: the window sum moves by one add per update and is recomputed with
``math.fsum`` each time the ring buffer wraps (every ``period`` updates), so
rounding never accumulates past one window. TA-Lib keeps one running sum for
the whole series; on long series that drift is the only difference.
"""

from __future__ import annotations

from math import fsum
from typing import Any, Self

from tickcast.indicators._base import (
    MAX_PERIOD,
    Indicator,
    StateReader,
    check_period,
    non_finite,
)


class SMA(Indicator):
    """Arithmetic mean of the last ``period`` values."""

    __slots__ = ("_buf", "_pos", "_sum", "period")

    kind = "sma"

    period: int
    _buf: list[float]
    _pos: int
    _sum: float

    def __init__(self, period: int) -> None:
        self.period = check_period("period", period)
        self.reset()

    def reset(self) -> None:
        # Zeros stand in for the values not yet seen: subtracting them is a no-op.
        self._buf = [0.0] * self.period
        self._pos = 0
        self._sum = 0.0
        self._ready = False

    def update(self, value: float) -> float | None:
        """Add one value; the mean of the last ``period`` values once warmed up."""
        if value - value != 0.0:  # NaN or ±inf
            raise non_finite("value", value)
        buf = self._buf
        pos = self._pos
        total = self._sum + (value - buf[pos])
        buf[pos] = value
        pos += 1
        if pos == self.period:
            pos = 0
            total = fsum(buf)
            self._ready = True
        self._pos = pos
        self._sum = total
        if self._ready:
            return total / self.period
        return None

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    def _dump(self) -> dict[str, Any]:
        return {"buf": list(self._buf), "pos": self._pos, "sum": self._sum, "ready": self._ready}

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD))
        new._buf = record.get_floats("buf", new.period)
        new._pos = record.get_int("pos", 0, new.period - 1)
        new._sum = record.get_float("sum")
        new._ready = record.get_bool("ready")
        return new
