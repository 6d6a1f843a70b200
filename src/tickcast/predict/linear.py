"""A linear log-odds model over standardised inputs (pure): what a trained
artifact and the fixed baseline both are.

Serving repeats training's transform exactly: z = clip((x - mean) / std, ±CLIP),
a missing input is 0 (the training mean), then logit = intercept + coef · z.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tickcast.predict.inputs import INPUT_NAMES, raw_inputs
from tickcast.predict.model import Features, Logit, move_scale, to_prediction
from tickcast.schema import Prediction

# One outlier bar (a gap, a bad print) must not saturate the score.
CLIP = 5.0


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    z = (x - mean) / std
    z = np.where(np.isnan(z), 0.0, z)
    clipped: np.ndarray = np.clip(z, -CLIP, CLIP)
    return clipped


def columns(names: tuple[str, ...]) -> np.ndarray:
    unknown = [n for n in names if n not in INPUT_NAMES]
    if unknown:
        raise ValueError(f"inputs this build does not compute: {', '.join(unknown)}")
    return np.array([INPUT_NAMES.index(n) for n in names], dtype=np.intp)


@dataclass(frozen=True, eq=False)
class LinearModel:
    model_id: str
    model_version: str
    horizon_bars: int
    names: tuple[str, ...]
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    std: np.ndarray
    _cols: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        if not (self.coef.shape == self.mean.shape == self.std.shape == (k,)):
            raise ValueError(f"coef, mean and std must each have {k} entries")
        if not np.all(self.std > 0):
            raise ValueError("std must be positive")
        object.__setattr__(self, "_cols", columns(self.names))

    def logit(self, features: Features) -> Logit:
        z = standardise(raw_inputs(features)[self._cols], self.mean, self.std)
        terms = self.coef * z
        return Logit(
            intercept=self.intercept,
            contributions=tuple(zip(self.names, (float(t) for t in terms), strict=True)),
            move_scale=move_scale(features, self.horizon_bars),
        )

    def predict(self, features: Features) -> Prediction:
        return to_prediction(self, self.logit(features))

    def logits(self, x_raw: np.ndarray) -> np.ndarray:
        """Vectorised log-odds for rows of INPUT_NAMES vectors (evaluation)."""
        out: np.ndarray = standardise(x_raw[:, self._cols], self.mean, self.std) @ self.coef
        return out + self.intercept
