"""One million points of a geometric random walk: TA-Lib agreement and no drift.

Each indicator runs once over the whole series and is compared with TA-Lib
vectorised (1e-9 relative, same warm-up). Window sums are also compared with
exact references at a tolerance that a never-refreshed running sum fails on
this series - checked below, so the test is known to catch drift.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

from tickcast.indicators import ATR, EMA, MACD, RSI, SMA, BollingerBands

PERIOD = 20
DRIFT_RTOL = 1e-13


def _window_mean_std(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-pass population mean and std of every window (chunked to bound memory)."""
    windows = sliding_window_view(x, period)
    mean = np.empty(len(windows))
    std = np.empty(len(windows))
    for start in range(0, len(windows), 100_000):
        chunk = windows[start : start + 100_000]
        m = chunk.mean(axis=1, keepdims=True)
        mean[start : start + len(chunk)] = m[:, 0]
        std[start : start + len(chunk)] = np.sqrt(((chunk - m) ** 2).mean(axis=1))
    return mean, std


def _naive_running_mean(x: np.ndarray, period: int) -> np.ndarray:
    """sum += new - old forever, as TA-Lib and talipp do: the drifting baseline."""
    steps = np.concatenate(([x[:period].sum()], x[period:] - x[:-period]))
    return np.cumsum(steps) / period


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def test_sma_1m_matches_talib_and_does_not_drift(walk: Any, helpers: Any) -> None:
    got = helpers.run(SMA(PERIOD).update, walk.close_list)
    helpers.assert_matches(got, talib.SMA(walk.close, PERIOD), what="SMA")
    exact, _ = _window_mean_std(walk.close, PERIOD)
    helpers.assert_matches(got[PERIOD - 1 :], exact, rtol=DRIFT_RTOL, what="SMA vs exact")
    assert _max_rel(_naive_running_mean(walk.close, PERIOD), exact) > DRIFT_RTOL


def test_bollinger_1m_matches_talib_and_does_not_drift(walk: Any, helpers: Any) -> None:
    got = helpers.run(BollingerBands(PERIOD, 1.0).update, walk.close_list)
    upper, middle, lower = talib.BBANDS(walk.close, PERIOD, 1.0, 1.0, 0)
    helpers.assert_matches(got[:, 0], upper, what="BBANDS upper")
    helpers.assert_matches(got[:, 1], middle, what="BBANDS middle")
    helpers.assert_matches(got[:, 2], lower, what="BBANDS lower")
    exact_mean, exact_std = _window_mean_std(walk.close, PERIOD)
    ready = got[PERIOD - 1 :]
    helpers.assert_matches(ready[:, 1], exact_mean, rtol=DRIFT_RTOL, what="middle vs exact")
    # k = 1: half the band width is the std, up to the cancellation in upper - lower
    # (std is ~1% of the price here, so ~2 of 16 digits are lost).
    width = (ready[:, 0] - ready[:, 2]) / 2.0
    helpers.assert_matches(width, exact_std, rtol=1e-11, what="std vs exact")


def test_ema_1m_matches_talib(walk: Any, helpers: Any) -> None:
    got = helpers.run(EMA(PERIOD).update, walk.close_list)
    helpers.assert_matches(got, talib.EMA(walk.close, PERIOD), what="EMA")


def test_rsi_1m_matches_talib(walk: Any, helpers: Any) -> None:
    got = helpers.run(RSI(14).update, walk.close_list)
    helpers.assert_matches(got, talib.RSI(walk.close, 14), what="RSI")


def test_macd_1m_matches_talib(walk: Any, helpers: Any) -> None:
    got = helpers.run(MACD().update, walk.close_list)
    expected = talib.MACD(walk.close, 12, 26, 9)
    for column, name in enumerate(("macd", "signal", "histogram")):
        helpers.assert_matches(got[:, column], expected[column], what=f"MACD {name}")
        # Relative to the price the three lines are differences of, they agree to
        # the last bits (TA-Lib fuses the EMA multiply-add; Python 3.11 cannot).
        helpers.assert_matches(
            got[:, column], expected[column], rtol=1e-14, scale=walk.close, what=name
        )


def test_atr_1m_matches_talib(walk: Any, helpers: Any) -> None:
    got = helpers.run(ATR(14).update, walk.hlc(), star=True)
    helpers.assert_matches(got, talib.ATR(walk.high, walk.low, walk.close, 14), what="ATR")


def test_sma_after_volume_spikes_stays_exact() -> None:
    """Spikes 1000x the level pass through the window without leaving rounding behind."""
    rng = np.random.default_rng(1)
    volume = rng.lognormal(3.0, 0.1, 5000)
    volume[::300] *= 1000.0
    xs = volume.tolist()
    sma = SMA(PERIOD)
    worst = 0.0
    for i, x in enumerate(xs):
        got = sma.update(x)
        if got is not None:
            exact = math.fsum(xs[i - PERIOD + 1 : i + 1]) / PERIOD
            worst = max(worst, abs(got - exact) / exact)
    assert worst < 1e-12
