"""The model interface: a feature vector in, a `Prediction` out (pure).

Every model is a score in log-odds: `logit(p_up) = intercept + sum(contributions)`.
That one shape makes the explanation exact (the factors add up to the score) and
lets the ensemble blend models by pooling their log-odds.

- `direction`: `flat` when |p_up - 0.5| < FLAT_BAND, else `up`/`down`.
- `confidence` = max(p_up, 1 - p_up).
- `expected_return` = (2 p_up - 1) * move_scale, where move_scale is the typical
  absolute log return over the horizon, sqrt(2/pi) * rv_20 * sqrt(horizon_bars)
  (the mean of |r| for a normal move with the recent per-bar volatility).
- `factors`: the TOP_FACTORS largest contributions by magnitude, signed, in
  log-odds; the intercept (the base rate) is not a factor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tickcast.schema import Prediction, Unchecked

FLAT_BAND = 0.05
TOP_FACTORS = 5

Direction = Literal["up", "down", "flat"]
Features = Mapping[str, float | None]


@dataclass(frozen=True)
class Logit:
    """A model's score for one feature vector, in log-odds."""

    intercept: float
    contributions: tuple[tuple[str, float], ...]
    move_scale: float  # typical |log return| over the horizon

    @property
    def value(self) -> float:
        return self.intercept + sum(c for _, c in self.contributions)


class Model(Protocol):
    """What the predict stage serves: `tickcast.predict.registry` builds these from URIs."""

    @property
    def model_id(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    @property
    def horizon_bars(self) -> int: ...

    def logit(self, features: Features) -> Logit: ...

    def predict(self, features: Features) -> Prediction: ...


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)  # the other branch never overflows for very negative z
    return e / (1.0 + e)


def direction_of(p_up: float) -> Direction:
    if abs(p_up - 0.5) < FLAT_BAND:
        return "flat"
    return "up" if p_up > 0.5 else "down"


def move_scale(features: Features, horizon_bars: int) -> float:
    vol = features.get("rv_20") or 0.0
    return math.sqrt(2.0 / math.pi) * vol * math.sqrt(horizon_bars)


def to_prediction(model: Model, logit: Logit) -> Prediction:
    names = [n for n, _ in logit.contributions]
    terms = [c for _, c in logit.contributions]
    return prediction(model, logit.value, names, terms, logit.move_scale)


def prediction_fields(
    model: Model, value: float, names: Sequence[str], terms: Sequence[float], scale: float
) -> dict[str, Any]:
    """The fields of the Prediction for a score `value` (log-odds) and its terms,
    `terms[i]` named `names[i]`, each already of its field's type (see `construct`)."""
    p_up = sigmoid(value)
    p_down = 1.0 - p_up
    keys = [-abs(c) for c in terms]  # largest magnitude first; a stable sort keeps ties in order
    top = sorted(range(len(keys)), key=keys.__getitem__)[:TOP_FACTORS]
    return {
        "model_id": model.model_id,
        "model_version": model.model_version,
        "horizon_bars": model.horizon_bars,
        "p_up": p_up,
        "direction": direction_of(p_up),
        "confidence": p_down if p_down > p_up else p_up,  # max(p_up, p_down), no call
        "expected_return": (2.0 * p_up - 1.0) * scale,
        "factors": tuple([{"name": names[i], "contribution": terms[i]} for i in top]),
    }


def prediction(
    model: Model, value: float, names: Sequence[str], terms: Sequence[float], scale: float
) -> Prediction:
    """The Prediction for a score `value` (log-odds) and its terms, `terms[i]` named `names[i]`."""
    return construct(prediction_fields(model, value, names, terms, scale))


# -- building the Prediction without re-validating what the model computed ---------
#
# Validation was half of a prediction's time (`tickcast bench predict`), and it
# checks nothing here: every field is computed above from the model's own
# attributes (str ids, an int horizon) and float arithmetic (sigmoid, the terms
# of `LinearModel.terms` / `Ensemble._pool_linear`, all Python floats), the
# direction is one of its literals and the factors are a tuple of fresh dicts,
# which is exactly what validation would return. schema.Unchecked fills the
# instance as validation does; tests/unit/predict/test_predict_construct.py
# checks the result equals the validated Prediction on thousands of vectors and
# edge values.
_PREDICTION = Unchecked(Prediction)
validate_prediction = _PREDICTION.validate


def construct(fields: dict[str, Any]) -> Prediction:
    """A Prediction from `prediction_fields` as validation builds it, without validating."""
    return _PREDICTION(fields)
