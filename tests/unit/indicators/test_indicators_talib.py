"""Every indicator equals TA-Lib's batch function on real market data.

Series: the arch package's daily S&P 500 and NASDAQ Composite (~5000 bars
each). Values must agree within 1e-9 relative, and ``None`` must appear on
exactly the bars where TA-Lib returns NaN (the same warm-up length).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import talib

from tickcast.indicators import ATR, EMA, MACD, RSI, SMA, BollingerBands


@pytest.mark.parametrize("period", [1, 2, 5, 20, 50, 200])
def test_sma_matches_talib(market: Any, helpers: Any, period: int) -> None:
    got = helpers.run(SMA(period).update, market.close_list)
    helpers.assert_matches(got, talib.SMA(market.close, period), what=f"SMA({period})")


@pytest.mark.parametrize("period", [1, 2, 5, 12, 26, 50, 200])
def test_ema_matches_talib(market: Any, helpers: Any, period: int) -> None:
    got = helpers.run(EMA(period).update, market.close_list)
    helpers.assert_matches(got, talib.EMA(market.close, period), what=f"EMA({period})")


@pytest.mark.parametrize("period", [2, 5, 14, 30])
def test_rsi_matches_talib(market: Any, helpers: Any, period: int) -> None:
    got = helpers.run(RSI(period).update, market.close_list)
    helpers.assert_matches(got, talib.RSI(market.close, period), what=f"RSI({period})")


@pytest.mark.parametrize(
    ("fast", "slow", "signal"),
    [(12, 26, 9), (5, 35, 5), (3, 10, 16), (12, 12, 1), (2, 3, 1)],
)
def test_macd_matches_talib(market: Any, helpers: Any, fast: int, slow: int, signal: int) -> None:
    got = helpers.run(MACD(fast, slow, signal).update, market.close_list)
    expected = talib.MACD(market.close, fast, slow, signal)
    for column, name in enumerate(("macd", "signal", "histogram")):
        helpers.assert_matches(got[:, column], expected[column], what=f"MACD {name}")
    # TA-Lib seeds the fast EMA on bar `slow`: first output after slow + signal - 1 values.
    assert np.flatnonzero(~np.isnan(got[:, 0]))[0] == slow + signal - 2


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.0), (10, 2.5), (2, 0.5), (50, 3.0)])
def test_bollinger_matches_talib(market: Any, helpers: Any, period: int, k: float) -> None:
    got = helpers.run(BollingerBands(period, k).update, market.close_list)
    upper, middle, lower = talib.BBANDS(market.close, period, k, k, 0)
    for column, (name, expected) in enumerate(
        (("upper", upper), ("middle", middle), ("lower", lower))
    ):
        helpers.assert_matches(got[:, column], expected, what=f"BBANDS {name}")


@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_atr_matches_talib(market: Any, helpers: Any, period: int) -> None:
    got = helpers.run(ATR(period).update, market.hlc(), star=True)
    expected = talib.ATR(market.high, market.low, market.close, period)
    helpers.assert_matches(got, expected, what=f"ATR({period})")


@pytest.mark.parametrize(
    ("make", "talib_first"),
    [
        (lambda: SMA(20), 19),
        (lambda: EMA(20), 19),
        (lambda: RSI(14), 14),
        (lambda: MACD(12, 26, 9), 33),
        (lambda: BollingerBands(20, 2.0), 19),
    ],
    ids=["sma", "ema", "rsi", "macd", "bbands"],
)
def test_none_exactly_until_talib_first_value(
    sp500: Any, helpers: Any, make: Any, talib_first: int
) -> None:
    indicator = make()
    outputs = [indicator.update(x) for x in sp500.close_list[:100]]
    assert helpers.first_value_index(outputs) == talib_first
    assert all(v is None for v in outputs[:talib_first])
    assert all(v is not None for v in outputs[talib_first:])
    assert indicator.ready


def test_atr_none_exactly_until_talib_first_value(sp500: Any) -> None:
    atr = ATR(14)
    outputs = [atr.update(h, lo, c) for h, lo, c in sp500.hlc()[:40]]
    first = int(np.flatnonzero(~np.isnan(talib.ATR(sp500.high, sp500.low, sp500.close, 14)))[0])
    assert first == 14
    assert all(v is None for v in outputs[:first])
    assert all(v is not None for v in outputs[first:])


def test_atr_matches_talib_on_arbitrary_bars(helpers: Any) -> None:
    """Unordered high/low (inverted bars) and gaps take TA-Lib's true-range formula too."""
    rng = np.random.default_rng(8)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, 3000))
    high = close + rng.normal(0.5, 1.0, 3000)  # sometimes below low or close
    low = close - rng.normal(0.5, 1.0, 3000)
    assert (high < low).sum() > 100
    bars = list(zip(high.tolist(), low.tolist(), close.tolist(), strict=True))
    got = helpers.run(ATR(5).update, bars, star=True)
    helpers.assert_matches(got, talib.ATR(high, low, close, 5), what="ATR")
