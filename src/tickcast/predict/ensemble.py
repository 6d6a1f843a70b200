"""`ensemble`: a weighted pool of models in log-odds (pure).

    logit(p_ens) = sum_i w_i * logit(p_i),   sum_i w_i = 1

so each factor is the weighted sum of the components' same-named contributions
and the factors still add up to the score; `move_scale` is the weighted mean.
Weights come from TICKCAST_ENSEMBLE_MODELS (`uri=weight,...`, normalised). The
default gives the trained daily model 0.75 and the fixed baseline 0.25: the
trained weights are fitted and calibrated on data, the baseline's are set by
hand. Neither shows skill out of sample (docs/MODEL.md has the numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tickcast.predict.inputs import input_list
from tickcast.predict.linear import CLIP, LinearModel
from tickcast.predict.model import Features, Logit, Model, move_scale, prediction, to_prediction
from tickcast.schema import Prediction

ENSEMBLE_ID = "ensemble"


def parse_spec(spec: str) -> list[tuple[str, float]]:
    """`uri=weight,uri=weight` -> [(uri, weight)], weights normalised to sum 1."""
    parts: list[tuple[str, float]] = []
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        uri, sep, weight = item.rpartition("=")
        if not sep or not uri:
            raise ValueError(f"ensemble component {item!r} is not `uri=weight`")
        try:
            w = float(weight)
        except ValueError:
            raise ValueError(f"ensemble weight {weight!r} is not a number") from None
        if not w > 0:
            raise ValueError(f"ensemble weight of {uri} must be positive, got {weight}")
        parts.append((uri.strip(), w))
    if not parts:
        raise ValueError("an ensemble needs at least one `uri=weight` component")
    total = sum(w for _, w in parts)
    return [(u, w / total) for u, w in parts]


@dataclass(frozen=True, eq=False)
class Ensemble:
    components: tuple[tuple[Model, float], ...]
    _version: str = field(init=False, repr=False)
    # When every component is linear, the per-bar path: the pooled names in first-seen
    # order, the pooled intercept, and one entry per term, component by component:
    # (pooled slot, input column, mean, std, coef, weight).
    _names: tuple[str, ...] = field(init=False, repr=False)
    _intercept: float = field(init=False, repr=False)
    _terms: tuple[tuple[int, int, float, float, float, float], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        horizons = {m.horizon_bars for m, _ in self.components}
        if len(horizons) != 1:
            raise ValueError(f"ensemble components disagree on horizon_bars: {sorted(horizons)}")
        # Names what is blended, so scores by version separate different blends.
        version = "+".join(f"{m.model_id}@{m.model_version}:{w:.3g}" for m, w in self.components)
        object.__setattr__(self, "_version", version)
        slots: dict[str, int] = {}
        intercept = 0.0
        terms: list[tuple[int, int, float, float, float, float]] = []
        if all(isinstance(m, LinearModel) for m, _ in self.components):
            for m, w in self.components:
                assert isinstance(m, LinearModel)
                intercept += w * m.intercept
                for name, (i, mean, std, coef) in zip(m.names, m.plan, strict=True):
                    terms.append((slots.setdefault(name, len(slots)), i, mean, std, coef, w))
        object.__setattr__(self, "_names", tuple(slots))
        object.__setattr__(self, "_intercept", intercept)
        object.__setattr__(self, "_terms", tuple(terms))

    @classmethod
    def of(cls, weighted: Sequence[tuple[Model, float]]) -> Ensemble:
        return cls(tuple(weighted))

    @property
    def model_id(self) -> str:
        return ENSEMBLE_ID

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def horizon_bars(self) -> int:
        return self.components[0][0].horizon_bars

    def logit(self, features: Features) -> Logit:
        if self._terms:
            intercept, pooled, scale = self._pool_linear(features)
            return Logit(intercept, tuple(zip(self._names, pooled, strict=True)), scale)
        intercept = 0.0
        scale = 0.0
        by_name: dict[str, float] = {}
        for model, w in self.components:
            part = model.logit(features)
            intercept += w * part.intercept
            scale += w * part.move_scale
            for name, c in part.contributions:
                by_name[name] = by_name.get(name, 0.0) + w * c
        return Logit(intercept, tuple(by_name.items()), scale)

    def _pool_linear(self, features: Features) -> tuple[float, list[float], float]:
        """`logit`'s sums, in the same order, term by term as `LinearModel.terms` computes
        them; the inputs computed once for all components."""
        x = input_list(features)
        ms = move_scale(features, self.horizon_bars)
        scale = 0.0
        for _, w in self.components:
            scale += w * ms
        pooled = [0.0] * len(self._names)
        for j, i, mean, std, coef, w in self._terms:
            z = (x[i] - mean) / std
            if z != z:
                z = 0.0
            elif z > CLIP:
                z = CLIP
            elif z < -CLIP:
                z = -CLIP
            pooled[j] = pooled[j] + w * (coef * z)
        return self._intercept, pooled, scale

    def predict(self, features: Features) -> Prediction:
        if self._terms:
            intercept, pooled, scale = self._pool_linear(features)
            return prediction(self, intercept + sum(pooled), self._names, pooled, scale)
        return to_prediction(self, self.logit(features))
