"""Model inputs derived from the live feature vector (pure).

Training and serving both call `raw_inputs` on the dict `FeatureSet.update`
returns, so they cannot drift. Every input is scale-free (a ratio, or a move in
units of the recent per-bar volatility rv_20): price levels such as `close` or
`sma_10` never enter a model, so one model can serve any symbol and bar length.
A missing feature gives NaN, which a model treats as "average" (0 once
standardised).
"""

from __future__ import annotations

import math

import numpy as np

from tickcast.predict.model import Features

# Names are what `factors` report; order is the artifact's column order.
INPUT_NAMES: tuple[str, ...] = (
    "momentum",  # ret_1 / rv_20: the last bar's move in volatility units
    "trend",  # sma_ratio / rv_20: SMA(10) vs SMA(30)
    "rsi_tilt",  # (rsi_14 - 50) / 50
    "ema_gap",  # (ema_12 / ema_26 - 1) / rv_20
    "macd_hist",  # macd_hist / close / rv_20
    "bb_position",  # bb_pctb - 0.5: where the close sits in the Bollinger band
    "vwap_gap",  # (close / vwap_session - 1) / rv_20
    "range_ratio",  # atr_14 / close / rv_20: bar range vs close-to-close volatility
    "volume_z",  # volume_z_20
)

_NAN = float("nan")
_MIN_VOL = 1e-12


def _get(f: Features, name: str) -> np.float64:
    # numpy scalars: a zero divisor gives inf (then NaN below), never ZeroDivisionError.
    v = f.get(name)
    return np.float64(_NAN if v is None or not math.isfinite(v) else v)


def raw_inputs(f: Features) -> np.ndarray:
    """The INPUT_NAMES vector for one bar's features (NaN where undefined)."""
    vol = _get(f, "rv_20")
    vol = vol if vol > _MIN_VOL else np.float64(_NAN)  # NaN also when rv_20 is missing
    close = _get(f, "close")
    ema_26 = _get(f, "ema_26")
    vwap = _get(f, "vwap_session")
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.array(
            [
                _get(f, "ret_1") / vol,
                _get(f, "sma_ratio") / vol,
                (_get(f, "rsi_14") - 50.0) / 50.0,
                (_get(f, "ema_12") / ema_26 - 1.0) / vol,
                _get(f, "macd_hist") / close / vol,
                _get(f, "bb_pctb") - 0.5,
                (close / vwap - 1.0) / vol,
                _get(f, "atr_14") / close / vol,
                _get(f, "volume_z_20"),
            ],
            dtype=np.float64,
        )
    x[~np.isfinite(x)] = np.nan
    return x
