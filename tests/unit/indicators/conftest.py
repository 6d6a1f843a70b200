"""Series and comparison helpers shared by the indicator tests.

Helpers are fixtures (not an importable module) so the tests work in every
pytest import mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pytest

WALK_POINTS = 1_000_000
WALK_SEED = 20_240_601
# Per-step log volatility: over 1M steps prices span 0.01 .. 120, enough for a
# never-refreshed running sum to drift by ~1e-12 relative (TA-Lib's SMA does),
# while TA-Lib itself stays well inside the 1e-9 comparison.
WALK_SIGMA = 3e-3


@dataclass(frozen=True)
class Bars:
    """One OHLCV series as numpy arrays (for TA-Lib) and lists (for updates)."""

    name: str
    close: np.ndarray
    high: np.ndarray
    low: np.ndarray
    volume: np.ndarray

    @property
    def close_list(self) -> list[float]:
        return self.close.tolist()  # type: ignore[no-any-return]

    def hlc(self) -> list[tuple[float, float, float]]:
        return list(zip(self.high.tolist(), self.low.tolist(), self.close.tolist(), strict=True))


def _arch_bars(name: str) -> Bars:
    if name == "sp500":
        from arch.data import sp500 as dataset
    else:
        from arch.data import nasdaq as dataset
    frame = dataset.load()
    return Bars(
        name=name,
        close=frame["Close"].to_numpy(dtype=np.float64),
        high=frame["High"].to_numpy(dtype=np.float64),
        low=frame["Low"].to_numpy(dtype=np.float64),
        volume=frame["Volume"].to_numpy(dtype=np.float64),
    )


def random_walk(points: int, seed: int, sigma: float) -> Bars:
    """Geometric random walk with plausible highs, lows and volumes."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, points)))
    opened = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, sigma, (2, points)))
    high = np.maximum(opened, close) * (1.0 + spread[0])
    low = np.minimum(opened, close) * (1.0 - spread[1])
    volume = np.floor(rng.lognormal(10.0, 1.0, points))
    return Bars("walk", close, high, low, volume)


@pytest.fixture(scope="session", params=["sp500", "nasdaq"])
def market(request: pytest.FixtureRequest) -> Bars:
    """The arch package's daily S&P 500 and NASDAQ Composite series (~5000 bars)."""
    return _arch_bars(request.param)


@pytest.fixture(scope="session")
def sp500() -> Bars:
    return _arch_bars("sp500")


@pytest.fixture(scope="session")
def walk() -> Bars:
    """The 1,000,000-point geometric random walk."""
    return random_walk(WALK_POINTS, WALK_SEED, WALK_SIGMA)


def run(update: Callable[..., Any], inputs: Iterable[Any], *, star: bool = False) -> np.ndarray:
    """Feed every input to ``update``; outputs as an array, NaN where it returned None.

    Tuple outputs (MACD, Bollinger) become rows of a 2-D array.
    """
    nan = float("nan")
    out = [update(*args) for args in inputs] if star else [update(x) for x in inputs]
    first = next((v for v in out if v is not None), None)
    if isinstance(first, tuple):
        width = len(first)
        blank = (nan,) * width
        rows = chain.from_iterable(blank if v is None else v for v in out)
        flat = np.fromiter(rows, dtype=np.float64, count=width * len(out))
        return flat.reshape(len(out), width)
    return np.array([nan if v is None else v for v in out], dtype=np.float64)


def assert_matches(
    actual: np.ndarray,
    expected: np.ndarray,
    *,
    rtol: float = 1e-9,
    scale: np.ndarray | None = None,
    what: str = "",
) -> None:
    """NaN (warm-up) exactly where ``expected`` has NaN, and values within ``rtol``.

    The tolerance is relative to ``|expected|``, or to ``max(|expected|, scale)``
    when ``scale`` is given: for MACD lines, which are differences of
    price-level EMAs, ``scale`` is the price.
    """
    assert actual.shape == expected.shape, what
    warm = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), warm, err_msg=f"{what}: warm-up differs")
    assert not warm.all(), f"{what}: nothing to compare"
    got = actual[~warm]
    want = expected[~warm]
    ref = np.abs(want) if scale is None else np.maximum(np.abs(want), np.abs(scale[~warm]))
    err = np.abs(got - want)
    bad = np.flatnonzero(err > rtol * ref)
    if bad.size:
        i = bad[0]
        raise AssertionError(
            f"{what}: {bad.size} values differ beyond rtol={rtol}; first at output {i}: "
            f"{got[i]!r} vs {want[i]!r} (max relative error {np.max(err / ref):.3g})"
        )


def first_value_index(values: Sequence[object]) -> int:
    return next(i for i, v in enumerate(values) if v is not None)


@pytest.fixture(scope="session")
def helpers() -> Any:
    """``run``, ``assert_matches`` and friends, for tests that want them."""

    class _Helpers:
        run = staticmethod(run)
        assert_matches = staticmethod(assert_matches)
        first_value_index = staticmethod(first_value_index)
        random_walk = staticmethod(random_walk)

    return _Helpers
