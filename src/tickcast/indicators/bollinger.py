"""Bollinger Bands, matching ``talib.BBANDS(period, k, k, matype=0)``.

``middle`` is the SMA of the last ``period`` values, ``upper``/``lower`` are
``middle ± k * std`` with the *population* standard deviation (divide by
``period``), TA-Lib's convention. Warm-up as SMA: ``None`` for the first
``period - 1`` values, bands from value number ``period`` on.

Accuracy: the variance uses shifted, periodically refreshed moments (see
``_window``), so it stays exact to many digits for tiny variances at large
price levels; TA-Lib's one-pass ``E[x^2] - E[x]^2`` does not (at 1e4 with a
standard deviation of 5e-6 it is off by about 1e-7 relative). The bands, which
are price-level numbers, agree with TA-Lib to ~1e-13 either way.
"""

from __future__ import annotations

from math import sqrt
from typing import Any, NamedTuple, Self

from tickcast.indicators._base import (
    MAX_PERIOD,
    Indicator,
    StateReader,
    check_finite,
    check_period,
    non_finite,
)
from tickcast.indicators._window import noise_factor, refresh


class BollingerValue(NamedTuple):
    """One Bollinger Bands output."""

    upper: float
    middle: float
    lower: float


_new_value = tuple.__new__


class BollingerBands(Indicator):
    """SMA middle band with bands ``k`` population standard deviations away."""

    __slots__ = ("_buf", "_err", "_pos", "_q", "_s", "_shift", "_tol", "k", "period")

    kind = "bbands"

    period: int
    k: float
    _tol: float
    _buf: list[float]
    _pos: int
    _shift: float
    _s: float
    _q: float
    _err: float

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self.period = check_period("period", period)
        self.k = check_finite("k", k)
        if self.k < 0.0:
            raise ValueError(f"k must be >= 0, got {k!r}")
        self._tol = noise_factor(period)
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self.period
        self._pos = 0
        self._shift = 0.0
        self._s = 0.0
        self._q = 0.0
        self._err = 0.0
        self._ready = False

    def update(self, value: float) -> BollingerValue | None:
        """Add one value; upper, middle and lower band once warmed up."""
        if value - value != 0.0:  # NaN or ±inf
            raise non_finite("value", value)
        buf = self._buf
        pos = self._pos
        old = buf[pos]
        buf[pos] = value
        shift = self._shift
        d = value - shift
        e = old - shift
        dd = d * d
        ee = e * e
        s = self._s + (d - e)
        q = self._q + (dd - ee)
        err = self._err + (dd + ee)
        pos += 1
        n = self.period
        if pos == n:
            pos = 0
            shift = value
            s, q = refresh(buf, shift)
            err = q
            self._ready = True
        self._pos = pos
        if not self._ready:
            self._s = s
            self._q = q
            self._err = err
            return None
        c = q - s * s / n
        if c <= self._tol * err and err > 0.0:
            shift = value
            s, q = refresh(buf, shift)
            err = q
            c = q - s * s / n
        self._shift = shift
        self._s = s
        self._q = q
        self._err = err
        middle = shift + s / n
        width = sqrt(c / n) * self.k if c > 0.0 else 0.0
        return _new_value(BollingerValue, (middle + width, middle, middle - width))  # type: ignore[no-any-return]

    def _params(self) -> dict[str, Any]:
        return {"period": self.period, "k": self.k}

    def _dump(self) -> dict[str, Any]:
        return {
            "buf": list(self._buf),
            "pos": self._pos,
            "shift": self._shift,
            "s": self._s,
            "q": self._q,
            "err": self._err,
            "ready": self._ready,
        }

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls(record.get_int("period", 1, MAX_PERIOD), record.get_float("k"))
        new._buf = record.get_floats("buf", new.period)
        new._pos = record.get_int("pos", 0, new.period - 1)
        new._shift = record.get_float("shift")
        new._s = record.get_float("s")
        new._q = record.get_float("q")
        new._err = record.get_float("err")
        new._ready = record.get_bool("ready")
        return new
