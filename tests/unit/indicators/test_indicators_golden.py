"""Golden values on tiny series, worked out by hand (fractions in the comments)."""

from __future__ import annotations

import math

import pytest

from tickcast.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    BollingerValue,
    LogReturn,
    MACDValue,
    RealizedVolatility,
    ZScore,
)

approx = pytest.approx


def test_sma_golden() -> None:
    sma = SMA(3)
    assert [sma.update(x) for x in [1.0, 2.0, 3.0, 4.0, 9.0]] == [None, None, 2.0, 3.0, 16 / 3]


def test_ema_golden() -> None:
    # k = 2/(3+1) = 1/2; seed = (2+4+6)/3 = 4; then (8-4)/2+4 = 6; (4-6)/2+6 = 5.
    ema = EMA(3)
    assert [ema.update(x) for x in [2.0, 4.0, 6.0, 8.0, 4.0]] == [None, None, 4.0, 6.0, 5.0]


def test_rsi_golden() -> None:
    # Moves +1 +2 | -1 +2. Seed gain (1+2)/2 = 1.5, loss 0 -> 100.
    # -1: gain 1.5*1/2 = 0.75, loss (0+1)/2 = 0.5 -> 100*0.75/1.25 = 60.
    # +2: gain (0.75+2)/2 = 1.375, loss 0.5/2 = 0.25 -> 100*1.375/1.625 = 1100/13.
    rsi = RSI(2)
    got = [rsi.update(x) for x in [1.0, 2.0, 4.0, 3.0, 5.0]]
    assert got[:2] == [None, None]
    assert got[2:] == approx([100.0, 60.0, 1100 / 13], rel=1e-15)


def test_rsi_of_a_motionless_window_is_zero_like_talib() -> None:
    rsi = RSI(3)
    assert [rsi.update(7.0) for _ in range(6)] == [None, None, None, 0.0, 0.0, 0.0]


def test_macd_golden() -> None:
    # fast=2 (k=2/3), slow=3 (k=1/2), signal=2 (k=2/3); both EMAs seeded on value 3:
    # slow = (1+2+3)/3 = 2, fast = (2+3)/2 = 5/2 -> macd 1/2.
    # x=5: fast = (5-5/2)*2/3+5/2 = 25/6, slow = 7/2 -> macd 2/3;
    #      signal seed = (1/2+2/3)/2 = 7/12, histogram 1/12.
    # x=4: fast = 73/18, slow = 15/4 -> macd 11/36; signal 43/108; histogram -5/54.
    macd = MACD(2, 3, 2)
    got = [macd.update(x) for x in [1.0, 2.0, 3.0, 5.0, 4.0]]
    assert got[:3] == [None, None, None]
    assert isinstance(got[3], MACDValue)
    assert tuple(got[3]) == approx((2 / 3, 7 / 12, 1 / 12), rel=1e-14)
    assert got[4] is not None
    assert (got[4].macd, got[4].signal, got[4].histogram) == approx(
        (11 / 36, 43 / 108, -5 / 54), rel=1e-14
    )


def test_bollinger_golden() -> None:
    # [1,2,3]: mean 2, population var 2/3. [3,4,10]: mean 17/3, var (64+25+169)/27 = 258/27.
    bb = BollingerBands(3, 2.0)
    got = [bb.update(x) for x in [1.0, 2.0, 3.0, 4.0, 10.0]]
    assert got[:2] == [None, None]
    first = got[2]
    assert isinstance(first, BollingerValue)
    sd = math.sqrt(2 / 3)
    assert (first.upper, first.middle, first.lower) == approx((2 + 2 * sd, 2.0, 2 - 2 * sd))
    sd = math.sqrt(258 / 27)
    assert tuple(got[4]) == approx((17 / 3 + 2 * sd, 17 / 3, 17 / 3 - 2 * sd), rel=1e-14)
    assert bb.stddev == approx(sd, rel=1e-15)


def test_atr_golden() -> None:
    # TR: bar 2 max(11-9, |11-9|, |9-9|) = 2; bar 3 max(12-9, |12-10|, |9-10|) = 3;
    # seed (2+3)/2 = 2.5 on bar 3. Bar 4: TR max(1, |11-11|, |10-11|) = 1 -> (2.5+1)/2.
    atr = ATR(2)
    bars = [(10.0, 8.0, 9.0), (11.0, 9.0, 10.0), (12.0, 9.0, 11.0), (11.0, 10.0, 10.5)]
    assert [atr.update(*bar) for bar in bars] == [None, None, 2.5, 1.75]


def test_vwap_golden_and_session_reset() -> None:
    vwap = VWAP()
    assert vwap.update(10.0, 100.0) == 10.0
    assert vwap.update(11.0, 300.0) == 10.75  # (1000 + 3300) / 400
    vwap.reset()
    assert vwap.update(5.0, 0.0) is None  # no volume yet in the new session
    assert vwap.update(6.0, 2.0) == 6.0


def test_log_return_golden() -> None:
    ret = LogReturn()
    assert ret.update(100.0) is None
    assert ret.update(110.0) == math.log(1.1)
    assert ret.update(110.0) == 0.0


def test_realized_volatility_golden() -> None:
    # Returns l, l, -2l with l = log(1.1): sample std of [l, l] is 0; of [l, -2l] it is
    # sqrt(((1.5l)^2 + (1.5l)^2) / 1) = l * sqrt(4.5).
    rv = RealizedVolatility(2)
    got = [rv.update(p) for p in [100.0, 110.0, 121.0, 100.0]]
    assert got[:2] == [None, None]
    assert got[2] == approx(0.0, abs=1e-17)
    assert got[3] == approx(math.log(1.1) * math.sqrt(4.5), rel=1e-14)


def test_zscore_golden() -> None:
    # [1,2,3]: (3-2)/sqrt(2/3) = sqrt(3/2). [3,4,10]: (10-17/3)/sqrt(258/27).
    z = ZScore(3)
    got = [z.update(x) for x in [1.0, 2.0, 3.0, 4.0, 10.0]]
    assert got[:2] == [None, None]
    assert got[2] == approx(math.sqrt(1.5), rel=1e-14)
    assert got[4] == approx((13 / 3) / math.sqrt(258 / 27), rel=1e-14)


def test_golden_series_agree_with_talib() -> None:
    """The hand-worked conventions above are TA-Lib's."""
    import numpy as np
    import talib

    x = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    rsi = RSI(2)
    assert [rsi.update(v) for v in x.tolist()][2:] == approx(talib.RSI(x, 2)[2:].tolist())
    x = np.array([1.0, 2.0, 3.0, 5.0, 4.0])
    macd = MACD(2, 3, 2)
    got = [macd.update(v) for v in x.tolist()]
    expected = np.column_stack(talib.MACD(x, 2, 3, 2))
    assert [tuple(v) for v in got[3:] if v is not None] == [
        approx(tuple(row)) for row in expected[3:].tolist()
    ]
    assert np.isnan(expected[:3]).all()
    high, low, close = (
        np.array(c)
        for c in zip(
            *[(10.0, 8.0, 9.0), (11.0, 9.0, 10.0), (12.0, 9.0, 11.0), (11.0, 10.0, 10.5)],
            strict=True,
        )
    )
    assert talib.ATR(high, low, close, 2)[2:].tolist() == [2.5, 1.75]
