"""Feature-vector indicators (VWAP, LogReturn, RealizedVolatility, ZScore) and the
numerical stability of every windowed variance."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tickcast.indicators import VWAP, BollingerBands, LogReturn, RealizedVolatility, ZScore


def _population_std(windows: np.ndarray) -> np.ndarray:
    out = np.empty(len(windows))
    for start in range(0, len(windows), 100_000):
        chunk = windows[start : start + 100_000]
        mean = chunk.mean(axis=1, keepdims=True)
        out[start : start + len(chunk)] = np.sqrt(((chunk - mean) ** 2).mean(axis=1))
    return out


def test_log_return_matches_numpy(sp500: Any, helpers: Any) -> None:
    got = helpers.run(LogReturn().update, sp500.close_list)
    assert np.isnan(got[0])
    expected = np.log(sp500.close[1:] / sp500.close[:-1])
    helpers.assert_matches(got[1:], expected, rtol=1e-15)


def test_realized_volatility_1m_is_the_sample_std_of_log_returns(walk: Any, helpers: Any) -> None:
    period = 20
    got = helpers.run(RealizedVolatility(period).update, walk.close_list)
    # First value on price number period + 1: period returns need period + 1 prices.
    assert np.isnan(got[:period]).all()
    assert not np.isnan(got[period:]).any()
    returns = np.log(walk.close[1:] / walk.close[:-1])
    windows = sliding_window_view(returns, period)
    expected = _population_std(windows) * math.sqrt(period / (period - 1))
    helpers.assert_matches(got[period:], expected, rtol=1e-10, what="realized vol")
    # Per bar, not annualised: the walk's per-step sigma is 3e-3.
    assert 2.5e-3 < float(np.median(got[period:])) < 3.5e-3


def test_zscore_1m_of_volume(walk: Any, helpers: Any) -> None:
    period = 20
    got = helpers.run(ZScore(period).update, walk.volume.tolist())
    windows = sliding_window_view(walk.volume, period)
    expected = (walk.volume[period - 1 :] - windows.mean(axis=1)) / _population_std(windows)
    assert np.isnan(got[: period - 1]).all()
    # Absolute tolerance: z is O(1) and crosses zero, where relative error means nothing.
    np.testing.assert_allclose(got[period - 1 :], expected, rtol=0, atol=1e-11)
    # x is in its own window: |z| <= sqrt(period - 1), reached by one outlier among equals.
    assert np.abs(got[period - 1 :]).max() <= math.sqrt(period - 1) + 1e-12


def test_zscore_equals_bollinger_statistics(sp500: Any) -> None:
    z = ZScore(20)
    bb = BollingerBands(20, 1.0)
    for x in sp500.close_list[:500]:
        score = z.update(x)
        bands = bb.update(x)
        if bands is None:
            assert score is None
            continue
        assert bb.stddev is not None
        assert score is not None
        assert math.isclose(score, (x - bands.middle) / bb.stddev, rel_tol=1e-9, abs_tol=1e-12)


def test_zscore_of_a_zero_volume_run_is_exactly_zero() -> None:
    rng = np.random.default_rng(3)
    volumes = np.concatenate((rng.lognormal(12, 2, 57), np.zeros(60), [5.0], np.zeros(40)))
    z = ZScore(20)
    got = [z.update(v) for v in volumes.tolist()]
    # Windows made only of zeros: 57+20-1 .. 57+60-1, and the final 20.
    assert got[57 + 19 : 57 + 60] == [0.0] * 41
    assert got[-1] == 0.0
    assert got[57 + 60] is not None and got[57 + 60] > 4.0  # the lone 5.0 stands out


def test_vwap_1m_session_does_not_drift(walk: Any) -> None:
    vwap = VWAP()
    prices = walk.close.tolist()
    volumes = walk.volume.tolist()
    checkpoints = {999, 99_999, 499_999, len(prices) - 1}
    seen = {}
    for i, (p, v) in enumerate(zip(prices, volumes, strict=True)):
        out = vwap.update(p, v)
        if i in checkpoints:
            seen[i] = out
    notional = (walk.close * walk.volume).tolist()
    for i, got in seen.items():
        exact = math.fsum(notional[: i + 1]) / math.fsum(volumes[: i + 1])
        assert got == pytest_approx(exact, 1e-14), i


def pytest_approx(value: float, rel: float) -> Any:
    import pytest

    return pytest.approx(value, rel=rel, abs=0)


def test_vwap_ignores_zero_volume_until_something_trades() -> None:
    vwap = VWAP()
    assert vwap.update(10.0, 0.0) is None
    assert not vwap.ready
    assert vwap.update(12.0, 3.0) == 12.0
    assert vwap.ready
    assert vwap.update(99.0, 0.0) == 12.0


def _exact_std(values: list[float]) -> float:
    return statistics.pstdev(values)  # exact rational arithmetic inside


def _stddev_errors(xs: list[float], period: int) -> tuple[float, float]:
    """Max relative error of BollingerBands.stddev and of ZScore vs exact statistics."""
    bb = BollingerBands(period)
    z = ZScore(period)
    worst_std = 0.0
    worst_z = 0.0
    for i, x in enumerate(xs):
        bb.update(x)
        score = z.update(x)
        if i < period - 1:
            continue
        window = xs[i - period + 1 : i + 1]
        exact = _exact_std(window)
        got = bb.stddev
        assert got is not None and score is not None
        if exact == 0.0:
            assert got == 0.0 and score == 0.0
            continue
        worst_std = max(worst_std, abs(got - exact) / exact)
        # n*x - sum(window) summed exactly: x - mean without the rounding of the mean.
        deviation = math.fsum([x] * period + [-v for v in window]) / period
        exact_z = deviation / exact
        worst_z = max(worst_z, abs(score - exact_z))
    return worst_std, worst_z


def test_tiny_variance_at_price_1e4_keeps_its_digits() -> None:
    rng = np.random.default_rng(11)
    noise = (1e4 + rng.normal(0, 1e-6, 1500)).tolist()
    trend = (1e4 + np.arange(1500) * 1e-4 + rng.normal(0, 1e-7, 1500)).tolist()
    for xs in (noise, trend):
        worst_std, worst_z = _stddev_errors(xs, 20)
        assert worst_std < 1e-12
        assert worst_z < 1e-9
    # Why `stddev` is exposed: bands rounded at the price level carry the spread
    # only to ~ulp(1e4) / 1e-6 ~ 1e-6 relative, whatever computed them.
    bb = BollingerBands(20, 1.0)
    width_errors = []
    for i, x in enumerate(noise[:200]):
        bands = bb.update(x)
        if bands is not None:
            exact = _exact_std(noise[i - 19 : i + 1])
            width_errors.append(abs((bands.upper - bands.middle) - exact) / exact)
    assert max(width_errors) > 1e-8


def test_level_shifts_and_spikes_leave_no_residue() -> None:
    """After a spike or a level shift leaves the window, the variance is exact again."""
    rng = np.random.default_rng(5)
    steps = 1e4 + np.repeat(rng.normal(0, 1, 30), 50) + rng.normal(0, 1e-9, 1500)
    spikes = rng.lognormal(3, 0.1, 1500)
    spikes[::125] *= 1e8
    for xs in (steps.tolist(), spikes.tolist()):
        worst_std, worst_z = _stddev_errors(xs, 20)
        assert worst_std < 1e-9
        assert worst_z < 1e-9
