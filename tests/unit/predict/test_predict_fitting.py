"""Model inputs, the Newton/IRLS fit and the scores, against known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast.features.vector import FeatureSet
from tickcast.predict import logistic, metrics
from tickcast.predict.inputs import INPUT_NAMES, raw_inputs
from tickcast.predict.linear import standardise
from tickcast.schema import Bar


def _bars(scale: float, n: int = 80) -> list[Bar]:
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return [
        Bar(
            t=i * 86_400_000,
            o=x * scale,
            h=x * 1.01 * scale,
            l=x * 0.99 * scale,
            c=x * scale,
            v=1000 + 10 * i,
            vwap=x * scale,
            n=1,
        )
        for i, x in enumerate(c)
    ]


def test_inputs_are_scale_free_so_one_model_serves_any_price_level() -> None:
    a, b = FeatureSet(), FeatureSet()
    for bar_a, bar_b in zip(_bars(1.0), _bars(37.0), strict=True):
        fa, ready, _ = a.update(bar_a)
        fb, _, _ = b.update(bar_b)
    assert ready
    np.testing.assert_allclose(raw_inputs(fa), raw_inputs(fb), rtol=1e-6, atol=1e-9)
    assert np.isfinite(raw_inputs(fa)).all() and len(raw_inputs(fa)) == len(INPUT_NAMES)


def test_undefined_inputs_are_nan_never_an_error() -> None:
    x = raw_inputs({"rv_20": 0.0, "ret_1": 0.01, "close": 10.0, "ema_26": 0.0, "ema_12": 1.0})
    assert np.isnan(x).all()


def _synthetic(n: int, beta: np.ndarray, b0: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, len(beta)))
    p = 1 / (1 + np.exp(-(x @ beta + b0)))
    return x, (rng.random(n) < p).astype(float)


def test_fit_recovers_known_coefficients() -> None:
    beta = np.array([1.0, -0.5, 0.0])
    x, y = _synthetic(40_000, beta, 0.3)
    fit = logistic.fit(x, y, l2=1e-3)
    # Coefficients are per standardised input: rescale to the raw ones to compare.
    np.testing.assert_allclose(fit.coef / fit.std, beta, atol=0.05)
    assert fit.intercept - (fit.coef * fit.mean / fit.std).sum() == pytest.approx(0.3, abs=0.05)
    assert fit.iterations < 15


def test_fit_solves_the_penalised_optimality_conditions() -> None:
    x, y = _synthetic(2000, np.array([0.4, 0.2]), -0.2, seed=5)
    l2 = 25.0
    fit = logistic.fit(x, y, l2)
    z = standardise(x, fit.mean, fit.std)
    p = fit.p_up(x)
    # d/dw: z'(p - y) + l2 w = 0; d/db (unpenalised): sum(p - y) = 0
    np.testing.assert_allclose(z.T @ (p - y) + l2 * fit.coef, 0, atol=1e-6)
    assert float((p - y).sum()) == pytest.approx(0, abs=1e-6)
    stronger = logistic.fit(x, y, 10 * l2)
    assert np.abs(stronger.coef).sum() < np.abs(fit.coef).sum()  # L2 shrinks


def test_normalisation_uses_only_the_rows_it_is_given() -> None:
    x = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0]])
    mean, std = logistic.normalisation(x)
    np.testing.assert_allclose(mean, [3.0, 3.0])
    np.testing.assert_allclose(std, [2.0, math.sqrt(2)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.1, 0.3, 0.5, 0.7])), min_size=2))
def test_auc_matches_counting_pairs(rows: list[tuple[int, float]]) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    p = np.array([r[1] for r in rows])
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        assert math.isnan(metrics.auc(y, p))
        return
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    assert metrics.auc(y, p) == pytest.approx(wins / (len(pos) * len(neg)))


def test_scores_of_known_forecasts() -> None:
    y = np.array([1.0, 0.0, 1.0, 0.0])
    assert metrics.accuracy(y, np.array([0.9, 0.1, 0.6, 0.4])) == 1.0
    assert metrics.brier(y, np.full(4, 0.5)) == 0.25
    assert metrics.log_loss(y, np.full(4, 0.5)) == pytest.approx(math.log(2))
    assert metrics.auc(y, np.full(4, 0.5)) == 0.5
    table = metrics.calibration(y, np.array([0.1, 0.2, 0.8, 0.9]), bins=2)
    assert [(r["n"], r["observed_up"]) for r in table] == [(2, 0.5), (2, 0.5)]
