"""Bollinger Bands, matching ``talib.BBANDS(period, k, k, matype=0)``.

``middle`` is the SMA of the last ``period`` values, ``upper``/``lower`` are
``middle ± k * std`` with the *population* standard deviation (divide by
``period``), TA-Lib's convention. Warm-up as SMA: ``None`` for the first
``period - 1`` values, bands from value number ``period`` on.

Accuracy: the variance uses shifted, refreshed moments with a precision guard
(see ``_window``), so it keeps its digits for tiny variances at large price
levels (a standard deviation of 1e-6 at 1e4 comes out to ~1e-15 relative,
where a one-pass ``E[x^2] - E[x]^2`` would have no digits left). The bands are
price-level numbers: ``upper - middle`` recovers the deviation only to about
``ulp(price) / std``, so read ``stddev`` when the spread itself matters. The
bands agree with TA-Lib to ~1e-13 relative.
"""

from __future__ import annotations

from math import isfinite, sqrt
from typing import Any, NamedTuple, Self, SupportsFloat, SupportsIndex

from tickcast.indicators._base import MAX_PERIOD, StateReader, check_finite, non_finite
from tickcast.indicators._window import MomentsWindow


class BollingerValue(NamedTuple):
    """One Bollinger Bands output."""

    upper: float
    middle: float
    lower: float


# NamedTuple's generated __new__ is a Python-level call; this skips it (hot path).
_new_value = tuple.__new__


class BollingerBands(MomentsWindow):
    """SMA middle band with bands ``k`` population standard deviations away."""

    __slots__ = ("k",)

    kind = "bbands"

    k: float

    def __init__(self, period: SupportsIndex = 20, k: SupportsFloat = 2.0) -> None:
        # SupportsFloat, not float: see check_period.
        self.k = check_finite("k", k)
        if self.k < 0.0:
            raise ValueError(f"k must be >= 0, got {k!r}")
        super().__init__(period)

    def reset(self) -> None:
        self._clear_window()

    def update(self, value: float) -> BollingerValue | None:
        """Add one value; upper, middle and lower band once warmed up."""
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
        n = self.period
        middle = shift + s / n
        width = sqrt(c / n) * self.k if c > 0.0 else 0.0
        return _new_value(BollingerValue, (middle + width, middle, middle - width))

    @property
    def stddev(self) -> float | None:
        """Population standard deviation of the current window (``None`` before warm-up).

        Exposed because ``upper - middle`` cancels digits when the spread is tiny
        next to the price.
        """
        if not self._ready:
            return None
        n = self.period
        c = self._q - self._s * self._s / n
        return sqrt(c / n) if c > 0.0 else 0.0

    def _params(self) -> dict[str, Any]:
        return {"period": self.period, "k": self.k}

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD), record.get_float("k"))
        new._load_window(record)
        return new
