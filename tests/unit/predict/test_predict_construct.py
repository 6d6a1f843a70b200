"""The served Prediction is built without pydantic validation (`model.construct`): it must
be the very object validation builds from the same fields, on real and awkward inputs."""

from __future__ import annotations

import copy
import math
import pickle
import random
from typing import Any

import pydantic
import pytest

from tickcast.bench.predict import feature_vectors, odd_vectors
from tickcast.config import Settings
from tickcast.predict import model as pm
from tickcast.predict.baseline import baseline
from tickcast.predict.model import Model, construct, prediction, prediction_fields
from tickcast.predict.stage import registry_for
from tickcast.schema import Prediction

EDGE = (
    0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 709.0, 710.0, -745.0,
    -746.0, 36.7, -36.7, 0.2, -0.2, math.inf, -math.inf, math.nan,
)  # fmt: skip


def validated(fields: dict[str, Any]) -> Prediction:
    # A copy: construct keeps the dict it is given as the instance's own.
    return Prediction.model_validate(copy.deepcopy(fields))


def assert_same(got: Prediction, want: Prediction) -> None:
    assert type(got) is type(want) is Prediction
    assert repr(got) == repr(want)  # types and values: -0.0, nan, 1 vs 1.0, tuple vs list
    assert got.model_dump_json() == want.model_dump_json()
    assert repr(got.model_dump()) == repr(want.model_dump())
    assert got.model_fields_set == want.model_fields_set
    assert got.model_extra == want.model_extra and got.__pydantic_private__ is None
    assert type(got.factors) is tuple and all(type(f) is dict for f in got.factors)
    if not any(isinstance(v, float) and math.isnan(v) for v in (got.p_up, got.expected_return)):
        assert got == want


def models() -> list[Model]:
    s = Settings.from_env({})
    return [
        registry_for(s).live(),
        registry_for(s.model_copy(update={"model_uri": "ensemble"})).live(),
        baseline(3),
    ]


@pytest.mark.parametrize("m", models(), ids=lambda m: m.model_id)
def test_served_predictions_equal_validated_ones(m: Model) -> None:
    real = feature_vectors(200, 11)
    for f in [*real, *odd_vectors(real, 3_000, 11)]:
        got = m.predict(f)
        logit = m.logit(f)
        names = [n for n, _ in logit.contributions]
        terms = [c for _, c in logit.contributions]
        assert_same(
            got, validated(prediction_fields(m, logit.value, names, terms, logit.move_scale))
        )


def test_edge_values_build_the_validated_object() -> None:
    rng = random.Random(16)
    m = baseline(2)
    for _ in range(5_000):
        n = rng.randint(0, 14)
        names = [f"x{i}" for i in range(n)]
        pool = [*EDGE[:-3], rng.gauss(0, 3), rng.uniform(-1e-3, 1e-3)]  # terms are finite
        terms = [rng.choice(pool) for _ in range(n)]  # ties and signed zeros included
        value, scale = rng.choice(EDGE), rng.choice((*EDGE, rng.random()))
        fields = prediction_fields(m, value, names, terms, scale)
        assert_same(prediction(m, value, names, terms, scale), validated(fields))


def test_the_constructed_object_behaves_like_a_validated_one() -> None:
    m = baseline(1)
    p = prediction(m, 0.7, ["a", "b"], [0.4, -0.3], 0.01)
    want = validated(prediction_fields(m, 0.7, ["a", "b"], [0.4, -0.3], 0.01))
    assert pickle.loads(pickle.dumps(p)) == want
    assert copy.deepcopy(p) == want and p.model_copy() == want
    assert Prediction.model_validate(p.model_dump()) == p
    assert Prediction.model_validate_json(p.model_dump_json()) == p
    with pytest.raises(pydantic.ValidationError):
        p.p_up = 0.1  # type: ignore[misc]  # frozen, like every wire model


def test_without_pydantic_s_known_layout_every_prediction_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert pm._PREDICTION.fast, "pydantic's instance layout changed: construct validates (slower)"
    monkeypatch.setattr(pm._PREDICTION, "fast", False)
    fields = prediction_fields(baseline(1), 0.1, ["a"], [0.1], 0.0)
    fields["horizon_bars"] = "1"  # validation would coerce: proves it ran
    assert construct(fields).horizon_bars == 1
