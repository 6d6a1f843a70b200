"""Session volume-weighted average price.

Session semantics: the VWAP covers every ``update`` since construction or the
last ``reset()``. The indicator never looks at clocks or time zones, which keeps
it pure: the caller decides where a session starts and calls ``reset()`` before
the session's first trade. The feature vector (``tickcast.features.vector``)
resets it at the session's start in the session's own time zone
(``TICKCAST_VWAP_ANCHOR``: by default 09:30 America/New_York for US equities,
00:00 UTC for crypto, 17:00 America/New_York for FX), and reports it only once it
covers a session from its start: ``ready`` here means only that volume has traded
since ``reset()``.

``update(price, volume)`` takes a trade (or a bar's representative price and
its volume). It returns ``None`` while the session's total volume is still 0
(a zero-volume print carries no weight), then ``sum(price * volume) /
sum(volume)``. Volume must be finite and >= 0. Both sums are
Neumaier-compensated, so a session of millions of ticks does not drift.
"""

from __future__ import annotations

from math import isfinite
from typing import Any, Self

from tickcast.indicators._base import Indicator, StateReader, non_finite


class VWAP(Indicator):
    """Cumulative VWAP of the current session."""

    __slots__ = ("_pv", "_pv_err", "_vol", "_vol_err")

    kind = "vwap"

    _pv: float
    _pv_err: float
    _vol: float
    _vol_err: float

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new session."""
        self._pv = 0.0
        self._pv_err = 0.0
        self._vol = 0.0
        self._vol_err = 0.0
        self._ready = False

    def update(self, price: float, volume: float) -> float | None:
        """Add one trade; the session VWAP once any volume has traded."""
        x = price * volume
        # One test covers NaN/inf in either argument (they make x NaN or inf) and overflow.
        if not (isfinite(x) and volume >= 0.0):
            raise _bad_trade(price, volume)
        # Neumaier's compensated sum: the rounding error of each add is kept aside.
        acc = self._pv
        total = acc + x
        if abs(acc) >= abs(x):
            self._pv_err += (acc - total) + x
        else:
            self._pv_err += (x - total) + acc
        self._pv = total
        acc = self._vol
        total = acc + volume
        if acc >= volume:
            self._vol_err += (acc - total) + volume
        else:
            self._vol_err += (volume - total) + acc
        self._vol = total
        vol = total + self._vol_err
        if vol > 0.0:
            self._ready = True
            return (self._pv + self._pv_err) / vol
        return None

    def _params(self) -> dict[str, Any]:
        return {}

    def _dump(self) -> dict[str, Any]:
        return {
            "pv": self._pv,
            "pv_err": self._pv_err,
            "vol": self._vol,
            "vol_err": self._vol_err,
            "ready": self._ready,
        }

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls()
        new._pv = record.get_float("pv")
        new._pv_err = record.get_float("pv_err")
        new._vol = record.get_float("vol")
        new._vol_err = record.get_float("vol_err")
        new._ready = record.get_bool("ready")
        return new


def _bad_trade(price: float, volume: float) -> ValueError:
    if not isfinite(price):
        return non_finite("price", price)
    if not (isfinite(volume) and volume >= 0.0):
        return ValueError(f"volume must be a finite number >= 0, got {volume!r}")
    return ValueError(f"price * volume overflows: {price!r} * {volume!r}")
