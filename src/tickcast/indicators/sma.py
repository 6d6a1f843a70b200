"""Simple moving average, matching ``talib.SMA``.

Warm-up: ``update`` returns ``None`` for the first ``period - 1`` values and the
mean of the first window on the ``period``-th, the bar of TA-Lib's first
non-NaN (lookback ``period - 1``).

Accuracy: the window sum moves by one add per update and is recomputed with
``math.fsum`` on the first ring-buffer wrap after 256 updates (see
``_window``), so rounding never accumulates beyond ``period + 256`` updates:
the relative error stays below about ``(period + 256) * 2.2e-16 * max|x| /
|mean|`` over those updates (~1e-13 for prices; a spike 1000x the level
leaves below ~1e-12 until the next refresh). TA-Lib keeps one running sum for the
whole series; on long series that drift is the only difference.
"""

from __future__ import annotations

from math import fsum, isfinite
from typing import Any, Self, SupportsIndex

from tickcast.indicators._base import (
    MAX_PERIOD,
    Indicator,
    StateReader,
    check_period,
    non_finite,
)
from tickcast.indicators._window import wraps_per_refresh


class SMA(Indicator):
    """Arithmetic mean of the last ``period`` values.

    ``_pos`` counts down: the slot written next is ``_pos - 1`` and 0 means the
    ring just wrapped, which the hot path tests without loading ``period``.
    """

    __slots__ = ("_buf", "_every", "_pos", "_sum", "_wraps", "period")

    kind = "sma"

    period: int
    _every: int
    _buf: list[float]
    _pos: int
    _wraps: int
    _sum: float

    def __init__(self, period: SupportsIndex) -> None:
        self.period = check_period("period", period)
        self._every = wraps_per_refresh(self.period)
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self.period
        self._pos = self.period
        self._wraps = self._every
        self._sum = 0.0
        self._ready = False

    def update(self, value: float) -> float | None:
        """Add one value; the mean of the last ``period`` values once warmed up."""
        if not isfinite(value):
            raise non_finite("value", value)
        if self._ready:
            buf = self._buf
            pos = self._pos - 1
            total = self._sum + (value - buf[pos])
            buf[pos] = value
            if not pos:
                pos = self.period
                self._wraps -= 1
                if not self._wraps:
                    self._wraps = self._every
                    total = fsum(buf)
            self._pos = pos
            self._sum = total
            return total / self.period
        return self._warm_up(value)

    def _warm_up(self, value: float) -> float | None:
        pos = self._pos - 1
        self._buf[pos] = value
        if pos:
            self._pos = pos
            return None
        # First full window: its exactly rounded sum, then the running sum takes over.
        self._pos = self.period
        self._sum = total = fsum(self._buf)
        self._ready = True
        return total / self.period

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    def _dump(self) -> dict[str, Any]:
        return {
            "buf": list(self._buf),
            "pos": self._pos,
            "wraps": self._wraps,
            "sum": self._sum,
            "ready": self._ready,
        }

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD))
        new._buf = record.get_floats("buf", new.period)
        new._pos = record.get_int("pos", 1, new.period)
        new._wraps = record.get_int("wraps", 1, new._every)
        new._sum = record.get_float("sum")
        new._ready = record.get_bool("ready")
        return new
