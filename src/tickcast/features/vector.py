"""The feature vector computed on each closed bar (pure).

The same class serves live (features stage) and training (`tickcast train`),
so training and serving cannot drift apart.
"""

from __future__ import annotations

import math
from typing import Any

from tickcast import indicators as ind
from tickcast.schema import Bar

SCHEMA_VERSION = 1

# Names are part of the wire contract (features{} in tickcast-features).
FEATURE_NAMES: tuple[str, ...] = (
    "close",
    "ret_1",
    "sma_10",
    "sma_30",
    "sma_ratio",
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "bb_pctb",
    "atr_14",
    "vwap_session",
    "rv_20",
    "volume_z_20",
)


class FeatureSet:
    """Indicator instances for one (symbol, interval); `update(bar)` per closed bar."""

    def __init__(self) -> None:
        self.sma_10 = ind.SMA(10)
        self.sma_30 = ind.SMA(30)
        self.ema_12 = ind.EMA(12)
        self.ema_26 = ind.EMA(26)
        self.rsi_14 = ind.RSI(14)
        self.macd = ind.MACD(12, 26, 9)
        self.bb = ind.BollingerBands(20, 2.0)
        self.atr_14 = ind.ATR(14)
        self.vwap = ind.VWAP()
        self.ret = ind.LogReturn()
        self.rv_20 = ind.RealizedVolatility(20)
        self.vol_z = ind.ZScore(20)
        self.session_day = -1
        self.bars = 0

    _PARTS = (
        "sma_10",
        "sma_30",
        "ema_12",
        "ema_26",
        "rsi_14",
        "macd",
        "bb",
        "atr_14",
        "vwap",
        "ret",
        "rv_20",
        "vol_z",
    )

    def update(self, bar: Bar) -> tuple[dict[str, float | None], bool, str | None]:
        day = bar.t // 86_400_000
        if day != self.session_day:
            self.vwap.reset()
            self.session_day = day
        self.bars += 1
        c = bar.c
        sma_10 = self.sma_10.update(c)
        sma_30 = self.sma_30.update(c)
        ema_12 = self.ema_12.update(c)
        ema_26 = self.ema_26.update(c)
        rsi = self.rsi_14.update(c)
        macd = self.macd.update(c)
        bb = self.bb.update(c)
        atr = self.atr_14.update(bar.h, bar.l, c)
        vwap = self.vwap.update(bar.vwap, bar.v)
        ret = self.ret.update(c)
        rv = self.rv_20.update(c)
        vol_z = self.vol_z.update(bar.v)
        pctb = None
        if bb is not None:
            width = bb.upper - bb.lower
            pctb = (c - bb.lower) / width if width > 0 else 0.5
        f: dict[str, float | None] = {
            "close": c,
            "ret_1": ret,
            "sma_10": sma_10,
            "sma_30": sma_30,
            "sma_ratio": (sma_10 / sma_30 - 1.0) if sma_10 is not None and sma_30 else None,
            "ema_12": ema_12,
            "ema_26": ema_26,
            "rsi_14": rsi,
            "macd": macd.macd if macd else None,
            "macd_signal": macd.signal if macd else None,
            "macd_hist": macd.histogram if macd else None,
            "bb_upper": bb.upper if bb else None,
            "bb_middle": bb.middle if bb else None,
            "bb_lower": bb.lower if bb else None,
            "bb_pctb": pctb,
            "atr_14": atr,
            "vwap_session": vwap,
            "rv_20": rv,
            "volume_z_20": vol_z,
        }
        # A non-finite value (e.g. zero-variance z-score) is reported as missing.
        f = {k: (v if v is None or math.isfinite(v) else None) for k, v in f.items()}
        missing = [k for k in FEATURE_NAMES if f[k] is None and k not in _OPTIONAL]
        if missing:
            return f, False, f"warming_up: {self.bars} bars, waiting for {', '.join(missing)}"
        return f, True, None

    def state(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "day": self.session_day,
            "bars": self.bars,
            **{p: getattr(self, p).state() for p in self._PARTS},
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> FeatureSet:
        if d.get("v") != SCHEMA_VERSION:
            raise ValueError(f"feature state version {d.get('v')!r} is not {SCHEMA_VERSION}")
        fs = cls()
        for p in cls._PARTS:
            setattr(fs, p, type(getattr(fs, p)).from_state(d[p]))
        fs.session_day = int(d["day"])
        fs.bars = int(d["bars"])
        return fs


# Volume z-score is undefined on a flat-volume window; the model treats it as 0.
_OPTIONAL = frozenset({"volume_z_20"})
