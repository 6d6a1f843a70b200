"""`builtin:baseline`: fixed weights, not trained, no claimed skill.

    logit(p_up) = 0.30 momentum + 0.50 trend + 0.40 rsi_tilt

(inputs as in `tickcast.predict.inputs`, unstandardised, clipped to ±5):
short-term momentum, trend and RSI tilt. It is the reference every trained
model must beat, and an ensemble component.
"""

from __future__ import annotations

import numpy as np

from tickcast.predict.linear import LinearModel

NAMES = ("momentum", "trend", "rsi_tilt")
WEIGHTS = (0.30, 0.50, 0.40)


def baseline(horizon_bars: int) -> LinearModel:
    k = len(NAMES)
    return LinearModel(
        model_id="baseline",
        model_version="1",
        horizon_bars=horizon_bars,
        names=NAMES,
        coef=np.array(WEIGHTS),
        intercept=0.0,
        mean=np.zeros(k),
        std=np.ones(k),
    )
