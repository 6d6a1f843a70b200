"""A linear log-odds model over standardised inputs (pure): what a trained
artifact and the fixed baseline both are.

Serving repeats training's transform exactly: z = clip((x - mean) / std, ±CLIP),
a missing input is 0 (the training mean), then logit = intercept + coef · z.
Per bar this runs on Python floats (`LinearModel.terms`), not numpy: for a
handful of inputs each numpy call costs more than the arithmetic, and the
element-wise IEEE operations are the same, so the results are bit-identical
to `standardise` (docs/PERFORMANCE.md, `tickcast bench predict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tickcast.predict.inputs import INPUT_NAMES, input_list
from tickcast.predict.model import Features, Logit, move_scale, prediction
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
    # (input column, mean, std, coef) per term as Python floats: the per-bar path.
    plan: tuple[tuple[int, float, float, float], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        if not (self.coef.shape == self.mean.shape == self.std.shape == (k,)):
            raise ValueError(f"coef, mean and std must each have {k} entries")
        if not np.all(self.std > 0):
            raise ValueError("std must be positive")
        cols = columns(self.names)
        object.__setattr__(self, "_cols", cols)
        plan = zip(
            cols.tolist(), self.mean.tolist(), self.std.tolist(), self.coef.tolist(), strict=True
        )
        object.__setattr__(self, "plan", tuple(plan))

    def terms(self, x: list[float]) -> list[float]:
        """coef * standardise(x[cols]) term by term, for one `input_list` vector.

        `Ensemble` repeats this loop inline, weighted (one call fewer per component)."""
        out = []
        for i, mean, std, coef in self.plan:
            z = (x[i] - mean) / std
            if z != z:  # NaN: a missing input counts as the training mean
                z = 0.0
            elif z > CLIP:
                z = CLIP
            elif z < -CLIP:
                z = -CLIP
            out.append(coef * z)
        return out

    def logit(self, features: Features) -> Logit:
        return Logit(
            intercept=self.intercept,
            contributions=tuple(zip(self.names, self.terms(input_list(features)), strict=True)),
            move_scale=move_scale(features, self.horizon_bars),
        )

    def predict(self, features: Features) -> Prediction:
        terms = self.terms(input_list(features))
        return prediction(
            self,
            self.intercept + sum(terms),
            self.names,
            terms,
            move_scale(features, self.horizon_bars),
        )

    def logits(self, x_raw: np.ndarray) -> np.ndarray:
        """Vectorised log-odds for rows of INPUT_NAMES vectors (evaluation)."""
        out: np.ndarray = standardise(x_raw[:, self._cols], self.mean, self.std) @ self.coef
        return out + self.intercept
