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
from dataclasses import dataclass

from tickcast.predict.model import Features, Logit, Model, to_prediction
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

    def __post_init__(self) -> None:
        horizons = {m.horizon_bars for m, _ in self.components}
        if len(horizons) != 1:
            raise ValueError(f"ensemble components disagree on horizon_bars: {sorted(horizons)}")

    @classmethod
    def of(cls, weighted: Sequence[tuple[Model, float]]) -> Ensemble:
        return cls(tuple(weighted))

    @property
    def model_id(self) -> str:
        return ENSEMBLE_ID

    @property
    def model_version(self) -> str:
        # Names what is blended, so scores by version separate different blends.
        return "+".join(f"{m.model_id}@{m.model_version}:{w:.3g}" for m, w in self.components)

    @property
    def horizon_bars(self) -> int:
        return self.components[0][0].horizon_bars

    def logit(self, features: Features) -> Logit:
        intercept = 0.0
        scale = 0.0
        pooled: dict[str, float] = {}
        for model, w in self.components:
            part = model.logit(features)
            intercept += w * part.intercept
            scale += w * part.move_scale
            for name, c in part.contributions:
                pooled[name] = pooled.get(name, 0.0) + w * c
        return Logit(intercept, tuple(pooled.items()), scale)

    def predict(self, features: Features) -> Prediction:
        return to_prediction(self, self.logit(features))
