"""Bad arguments and bad inputs fail loudly, and a rejected input changes nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from tickcast.indicators import (
    ATR,
    EMA,
    MACD,
    MAX_PERIOD,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    Indicator,
    LogReturn,
    RealizedVolatility,
    ZScore,
)

PERIOD_CLASSES: list[tuple[Callable[[int], Indicator], int]] = [
    (SMA, 1),
    (EMA, 1),
    (RSI, 1),
    (BollingerBands, 1),
    (ATR, 1),
    (RealizedVolatility, 2),
    (ZScore, 2),
]


@pytest.mark.parametrize(("cls", "minimum"), PERIOD_CLASSES)
@pytest.mark.parametrize("offset", [1, 2, 100])
def test_period_below_minimum_is_a_value_error(
    cls: Callable[[int], Indicator], minimum: int, offset: int
) -> None:
    with pytest.raises(ValueError, match=rf"period must be between {minimum} and {MAX_PERIOD}"):
        cls(minimum - offset)


@pytest.mark.parametrize(("cls", "minimum"), PERIOD_CLASSES)
def test_period_bounds(cls: Callable[[int], Indicator], minimum: int) -> None:
    assert not cls(minimum).ready
    with pytest.raises(ValueError, match="period must be between"):
        cls(MAX_PERIOD + 1)


@pytest.mark.parametrize(("cls", "minimum"), PERIOD_CLASSES)
@pytest.mark.parametrize("period", [14.0, "14", True, None])
def test_period_must_be_an_int(cls: Callable[[Any], Indicator], minimum: int, period: Any) -> None:
    with pytest.raises(TypeError, match="period must be an int"):
        cls(period)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 26, 9), "fast must be between 1"),
        ((12, 0, 9), "slow must be between 1"),
        ((12, 26, 0), "signal must be between 1"),
        ((26, 12, 9), r"fast \(26\) must not be longer than slow \(12\)"),
    ],
)
def test_macd_arguments(args: tuple[int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MACD(*args)


@pytest.mark.parametrize("k", [-1.0, math.nan, math.inf, "2", None])
def test_bollinger_k_must_be_finite_and_not_negative(k: Any) -> None:
    with pytest.raises(ValueError, match="k must be"):
        BollingerBands(20, k)


SCALAR_INDICATORS: list[Callable[[], Any]] = [
    lambda: SMA(3),
    lambda: EMA(3),
    lambda: RSI(3),
    lambda: MACD(2, 3, 2),
    lambda: BollingerBands(3),
    lambda: ZScore(3),
]


@pytest.mark.parametrize("make", SCALAR_INDICATORS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("warm", [0, 2, 10])
def test_non_finite_value_is_rejected_without_changing_state(
    make: Callable[[], Any], bad: float, warm: int
) -> None:
    indicator = make()
    for i in range(warm):
        indicator.update(100.0 + i % 3)
    before = indicator.state()
    with pytest.raises(ValueError, match="value must be a finite number"):
        indicator.update(bad)
    assert indicator.state() == before


@pytest.mark.parametrize("field", ["high", "low", "close"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_atr_names_the_non_finite_field(field: str, bad: float) -> None:
    atr = ATR(2)
    atr.update(11.0, 9.0, 10.0)
    before = atr.state()
    bar = {"high": 11.0, "low": 9.0, "close": 10.0, field: bad}
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        atr.update(**bar)
    assert atr.state() == before


@pytest.mark.parametrize("make", [LogReturn, lambda: RealizedVolatility(3)])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_prices_must_be_positive_and_finite(make: Callable[[], Any], bad: float) -> None:
    indicator = make()
    indicator.update(100.0)
    before = indicator.state()
    with pytest.raises(ValueError, match="price must be a finite number > 0"):
        indicator.update(bad)
    assert indicator.state() == before


@pytest.mark.parametrize(
    ("price", "volume", "message"),
    [
        (math.nan, 1.0, "price must be a finite number"),
        (math.inf, 1.0, "price must be a finite number"),
        (10.0, -1.0, "volume must be a finite number >= 0"),
        (10.0, math.nan, "volume must be a finite number >= 0"),
        (10.0, math.inf, "volume must be a finite number >= 0"),
        (0.0, math.inf, "volume must be a finite number >= 0"),
        (math.inf, 0.0, "price must be a finite number"),
        (1e300, 1e10, "price \\* volume overflows"),
    ],
)
def test_vwap_rejects_bad_trades(price: float, volume: float, message: str) -> None:
    vwap = VWAP()
    vwap.update(10.0, 5.0)
    before = vwap.state()
    with pytest.raises(ValueError, match=message):
        vwap.update(price, volume)
    assert vwap.state() == before


def test_ints_are_accepted_as_values() -> None:
    sma = SMA(2)
    sma.update(1)
    assert sma.update(2) == 1.5


def test_reset_forgets_everything_but_parameters() -> None:
    fresh = BollingerBands(5, 1.5)
    used = BollingerBands(5, 1.5)
    for x in range(20):
        used.update(float(x))
    assert used.ready
    used.reset()
    assert not used.ready
    assert used.state() == fresh.state()


def test_repr_shows_parameters() -> None:
    assert repr(MACD()) == "MACD(fast=12, slow=26, signal=9)"
    assert repr(BollingerBands(10, 1.5)) == "BollingerBands(period=10, k=1.5)"
    assert repr(VWAP()) == "VWAP()"


def test_atr_rejects_bars_whose_sum_overflows() -> None:
    with pytest.raises(ValueError, match="overflows"):
        ATR(2).update(1e308, 1e308, 1e308)
