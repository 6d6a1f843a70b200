"""The model interface: prediction fields, flat band, exact factors, baseline and ensemble."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickcast.predict import FLAT_BAND, Model, direction_of
from tickcast.predict.baseline import baseline
from tickcast.predict.ensemble import Ensemble, parse_spec
from tickcast.predict.inputs import INPUT_NAMES
from tickcast.predict.linear import CLIP, LinearModel
from tickcast.predict.model import TOP_FACTORS, sigmoid


def model_with(coef: list[float], intercept: float = 0.0, version: str = "1") -> LinearModel:
    k = len(INPUT_NAMES)
    return LinearModel(
        model_id="m",
        model_version=version,
        horizon_bars=1,
        names=INPUT_NAMES,
        coef=np.array(coef),
        intercept=intercept,
        mean=np.zeros(k),
        std=np.ones(k),
    )


def test_flat_band_is_symmetric_around_one_half() -> None:
    assert FLAT_BAND == 0.05
    assert direction_of(0.5) == direction_of(0.549) == direction_of(0.451) == "flat"
    assert direction_of(0.551) == "up" and direction_of(0.449) == "down"


def test_baseline_golden_values(features: dict[str, float | None]) -> None:
    p = baseline(1).predict(features)
    # momentum = 0.004 / 0.01, trend = 0.0099 / 0.01, rsi_tilt = (61 - 50) / 50
    z = 0.30 * 0.4 + 0.50 * 0.99 + 0.40 * 0.22
    assert p.p_up == pytest.approx(sigmoid(z))
    assert p.direction == "up" and p.confidence == pytest.approx(p.p_up)
    assert [(f["name"], round(f["contribution"], 6)) for f in p.factors] == [
        ("trend", 0.495),
        ("momentum", 0.12),
        ("rsi_tilt", 0.088),
    ]
    assert p.expected_return == pytest.approx((2 * p.p_up - 1) * math.sqrt(2 / math.pi) * 0.01)
    assert (p.model_id, p.model_version, p.horizon_bars) == ("baseline", "1", 1)


@given(
    st.lists(st.floats(-3, 3), min_size=len(INPUT_NAMES), max_size=len(INPUT_NAMES)),
    st.floats(-1, 1),
)
def test_factors_are_the_largest_signed_terms_and_add_up_to_the_score(
    features: dict[str, float | None], coef: list[float], intercept: float
) -> None:
    m = model_with(coef, intercept)
    logit = m.logit(features)
    p = m.predict(features)
    assert p.p_up == pytest.approx(
        sigmoid(logit.intercept + sum(c for _, c in logit.contributions))
    )
    mags = sorted((abs(c) for _, c in logit.contributions), reverse=True)
    assert [abs(f["contribution"]) for f in p.factors] == pytest.approx(mags[:TOP_FACTORS])
    assert p.confidence == pytest.approx(max(p.p_up, 1 - p.p_up))
    assert 0 <= p.p_up <= 1 and p.direction == direction_of(p.p_up)


def test_missing_inputs_count_as_average_and_outliers_are_clipped(
    features: dict[str, float | None],
) -> None:
    m = model_with([1.0] * len(INPUT_NAMES))
    empty = m.logit({})
    assert all(c == 0 for _, c in empty.contributions) and empty.move_scale == 0
    wild = m.logit({**features, "ret_1": 1.0})  # a 100-sigma bar
    assert dict(wild.contributions)["momentum"] == CLIP


def test_models_satisfy_the_protocol(features: dict[str, float | None]) -> None:
    models: list[Model] = [baseline(1), model_with([0.1] * len(INPUT_NAMES))]
    assert all(m.predict(features).model_id for m in models)


def test_ensemble_pools_log_odds_with_normalised_weights(
    features: dict[str, float | None],
) -> None:
    a = model_with([0.2] * len(INPUT_NAMES), intercept=0.1, version="a")
    b = baseline(1)
    (_, wa), (_, wb) = parse_spec("x=1, y=3")
    assert (wa, wb) == (0.25, 0.75)
    ens = Ensemble.of([(a, wa), (b, wb)])
    la, lb, le = a.logit(features), b.logit(features), ens.logit(features)
    assert le.value == pytest.approx(wa * la.value + wb * lb.value)
    assert dict(le.contributions)["momentum"] == pytest.approx(
        wa * dict(la.contributions)["momentum"] + wb * dict(lb.contributions)["momentum"]
    )
    p = ens.predict(features)
    assert p.model_id == "ensemble" and p.model_version == "m@a:0.25+baseline@1:0.75"


@pytest.mark.parametrize("spec", ["", "builtin:baseline", "a=0", "a=-1", "a=x", "=1"])
def test_bad_ensemble_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_spec(spec)


def test_ensemble_refuses_components_with_different_horizons() -> None:
    with pytest.raises(ValueError, match="horizon"):
        Ensemble.of([(baseline(1), 0.5), (baseline(2), 0.5)])
