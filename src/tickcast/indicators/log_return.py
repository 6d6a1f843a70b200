"""One-bar log return, ``log(price / previous price)``.

Warm-up: the first price returns ``None``. Prices must be finite and > 0.
``log(p / prev)`` rather than ``log(p) - log(prev)``: for the small moves of
one bar the ratio is exact to an ulp and the subtraction would cancel digits.
"""

from __future__ import annotations

from math import inf, log
from typing import Any, Self

from tickcast.indicators._base import Indicator, StateReader


class LogReturn(Indicator):
    """Log return between consecutive prices."""

    __slots__ = ("_prev",)

    kind = "log_return"

    _prev: float | None

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prev = None
        self._ready = False

    def update(self, price: float) -> float | None:
        """Add one price; the log return from the previous one."""
        if not 0.0 < price < inf:
            raise ValueError(f"price must be a finite number > 0, got {price!r}")
        prev = self._prev
        self._prev = price
        if prev is None:
            return None
        self._ready = True
        return log(price / prev)

    def _params(self) -> dict[str, Any]:
        return {}

    def _dump(self) -> dict[str, Any]:
        return {"prev": self._prev, "ready": self._ready}

    @classmethod
    def _load(cls, record: StateReader) -> Self:
        new = cls()
        prev = record.get_optional_float("prev")
        if prev is not None and prev <= 0.0:
            raise ValueError(f"log_return state field 'prev' must be > 0, got {prev!r}")
        new._prev = prev
        new._ready = record.get_bool("ready")
        if new._ready and prev is None:
            raise ValueError("log_return state is ready but has no previous price")
        return new
