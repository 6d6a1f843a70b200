"""Rolling z-score, e.g. of bar volume.

``z = (x - mean) / std`` over the window of the last ``period`` values
*including* ``x`` itself, with the *population* standard deviation (divide by
``period``): the same window statistics as Bollinger Bands, so
``z == (x - middle) / std`` of ``BollingerBands(period)``. Including ``x``
keeps the score bounded, ``|z| <= sqrt(period - 1)`` (one outlier among equal
values), so one huge print cannot produce an unbounded feature. A window with
no spread (say a run of zero-volume bars) gives 0.0.

Warm-up: ``None`` for the first ``period - 1`` values; ``period`` must be >= 2.
Accuracy: shifted, refreshed moments (see ``_window``); a window that becomes
constant gets an exact zero spread, not rounding noise.
"""

from __future__ import annotations

from math import isfinite, sqrt
from typing import Any, Self, SupportsIndex

from tickcast.indicators._base import MAX_PERIOD, StateReader, non_finite
from tickcast.indicators._window import MomentsWindow


class ZScore(MomentsWindow):
    """Standard score of each value within its trailing window."""

    __slots__ = ()

    kind = "zscore"

    def __init__(self, period: SupportsIndex) -> None:
        super().__init__(period, minimum=2)

    def reset(self) -> None:
        self._clear_window()

    def update(self, value: float) -> float | None:
        """Add one value; its z-score within the last ``period`` values."""
        if not isfinite(value):
            raise non_finite("value", value)
        if self._ready:
            buf = self._buf
            pos = self._pos - 1
            shift = self._shift
            d = value - shift
            e = buf[pos] - shift
            buf[pos] = value
            dd = d * d
            ee = e * e
            s = self._s + (d - e)
            q = self._q + (dd - ee)
            err = self._err + (dd + ee)
            c = q - s * s / self.period
            if pos and c > self._tol * err:
                self._pos = pos
                self._s = s
                self._q = q
                self._err = err
            else:
                c = self._settle(value, pos, s, q, err)
                shift = self._shift
                s = self._s
        else:
            filled = self._fill(value)
            if filled is None:
                return None
            c = filled
            shift = self._shift
            s = self._s
        if c > 0.0:
            n = self.period
            return ((value - shift) - s / n) / sqrt(c / n)
        return 0.0

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 2, MAX_PERIOD))
        new._load_window(record)
        return new
