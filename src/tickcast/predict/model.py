"""The model interface every predictor implements, and the documented baseline.

Baseline (`builtin:baseline`, not trained, no claimed skill): a fixed-weight
logistic score over three volatility-normalised signals,

    x = [ret_1 / rv_20, sma_ratio / rv_20, (rsi_14 - 50) / 50]
    p_up = sigmoid(w . x),  w = [0.30, 0.50, 0.40]

i.e. short-term momentum, trend and RSI tilt. `direction` is `flat` when
|p_up - 0.5| < FLAT_BAND, `confidence` = max(p_up, 1 - p_up), and
`expected_return` = (2 p_up - 1) * rv_20 (one bar's typical move, signed).
`factors` are the signed terms w_i * x_i, largest first: the "why".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from tickcast.schema import Factor, Prediction

FLAT_BAND = 0.05


class Model(Protocol):
    model_id: str
    model_version: str

    def predict(self, features: Mapping[str, float | None], horizon_bars: int) -> Prediction: ...


def direction_of(p_up: float) -> str:
    if abs(p_up - 0.5) < FLAT_BAND:
        return "flat"
    return "up" if p_up > 0.5 else "down"


class BaselineModel:
    model_id = "baseline"
    model_version = "1"
    names = ("momentum", "trend", "rsi_tilt")
    weights = np.array([0.30, 0.50, 0.40])

    def inputs(self, f: Mapping[str, float | None]) -> np.ndarray:
        vol = f.get("rv_20") or 0.0
        vol = vol if vol > 1e-12 else 1e-12
        x = np.array(
            [
                (f.get("ret_1") or 0.0) / vol,
                (f.get("sma_ratio") or 0.0) / vol,
                ((f.get("rsi_14") or 50.0) - 50.0) / 50.0,
            ]
        )
        clipped: np.ndarray = np.clip(x, -5.0, 5.0)  # one outlier bar must not saturate the score
        return clipped

    def predict(self, features: Mapping[str, float | None], horizon_bars: int) -> Prediction:
        terms = self.weights * self.inputs(features)
        p_up = float(1.0 / (1.0 + math.exp(-float(terms.sum()))))
        vol = features.get("rv_20") or 0.0
        order = np.argsort(-np.abs(terms))
        return Prediction(
            model_id=self.model_id,
            model_version=self.model_version,
            horizon_bars=horizon_bars,
            p_up=p_up,
            direction=direction_of(p_up),  # type: ignore[arg-type]
            confidence=max(p_up, 1.0 - p_up),
            expected_return=(2.0 * p_up - 1.0) * vol,
            factors=tuple(Factor(name=self.names[i], contribution=float(terms[i])) for i in order),
        )


def load(uri: str) -> Model:
    if uri == "builtin:baseline":
        return BaselineModel()
    raise ValueError(f"unknown model URI {uri!r} (this build serves builtin:baseline)")
