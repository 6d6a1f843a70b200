"""Rolling realised volatility: sample standard deviation of log returns.

``update(price)`` turns prices into one-bar log returns ``log(p / prev)`` and
returns the *sample* standard deviation (divide by ``period - 1``) of the last
``period`` of them. It is per bar: not annualised and not scaled by bar
length; multiply by ``sqrt(bars per year)`` for an annual figure.

Warm-up: the first price only primes the return; the first value comes on
price number ``period + 1``. Prices must be finite and > 0; ``period`` must be
>= 2. Accuracy: shifted, refreshed moments (see ``_window``).
"""

from __future__ import annotations

from math import inf, log, sqrt
from typing import Any, Self, SupportsIndex

from tickcast.indicators._base import MAX_PERIOD, StateReader
from tickcast.indicators._window import MomentsWindow


class RealizedVolatility(MomentsWindow):
    """Per-bar volatility of the last ``period`` log returns."""

    __slots__ = ("_prev",)

    kind = "realized_vol"

    _prev: float | None

    def __init__(self, period: SupportsIndex) -> None:
        super().__init__(period, minimum=2)
        self._prev = None

    def reset(self) -> None:
        self._clear_window()
        self._prev = None

    def update(self, price: float) -> float | None:
        """Add one price; the volatility of the last ``period`` log returns."""
        if not 0.0 < price < inf:
            raise ValueError(f"price must be a finite number > 0, got {price!r}")
        prev = self._prev
        self._prev = price
        if prev is None:
            return None
        value = log(price / prev)
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
        else:
            filled = self._fill(value)
            if filled is None:
                return None
            c = filled
        return sqrt(c / (self.period - 1)) if c > 0.0 else 0.0

    def _params(self) -> dict[str, Any]:
        return {"period": self.period}

    def _dump(self) -> dict[str, Any]:
        return {"prev": self._prev, **super()._dump()}

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 2, MAX_PERIOD))
        prev = record.get_optional_float("prev")
        if prev is not None and prev <= 0.0:
            raise ValueError(f"realized_vol state field 'prev' must be > 0, got {prev!r}")
        new._prev = prev
        new._load_window(record)
        if new._ready and prev is None:
            raise ValueError("realized_vol state is ready but has no previous price")
        return new
