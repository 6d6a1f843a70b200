"""Kind name -> indicator class, so a stored state record restores generically."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from tickcast.indicators._base import Indicator
from tickcast.indicators.atr import ATR
from tickcast.indicators.bollinger import BollingerBands
from tickcast.indicators.ema import EMA
from tickcast.indicators.log_return import LogReturn
from tickcast.indicators.macd import MACD
from tickcast.indicators.realized_volatility import RealizedVolatility
from tickcast.indicators.rsi import RSI
from tickcast.indicators.sma import SMA
from tickcast.indicators.vwap import VWAP
from tickcast.indicators.zscore import ZScore

REGISTRY: Final[Mapping[str, type[Indicator]]] = MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            SMA,
            EMA,
            RSI,
            MACD,
            BollingerBands,
            ATR,
            VWAP,
            LogReturn,
            RealizedVolatility,
            ZScore,
        )
    }
)


def from_state(state: Mapping[str, Any]) -> Indicator:
    """Restore any indicator from its ``state()`` record, dispatching on ``kind``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"indicator state must be a mapping, got {type(state).__name__}")
    kind = state.get("kind")
    cls = REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown indicator kind {kind!r}; known kinds: {sorted(REGISTRY)}")
    return cls.from_state(state)
