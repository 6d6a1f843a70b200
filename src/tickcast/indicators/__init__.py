"""Pure, incremental O(1) indicators whose values match TA-Lib.

Usage::

    from tickcast.indicators import SMA, from_state

    sma = SMA(20)
    for price in prices:
        value = sma.update(price)  # None until warmed up, then a float
    record = sma.state()           # small JSON-serialisable dict
    sma = from_state(record)       # continues bit-identically

API
---
``SMA(period)``, ``EMA(period)``, ``RSI(period=14)``, ``MACD(fast=12,
slow=26, signal=9)``, ``BollingerBands(period=20, k=2.0)``: ``update(value)``.
``ATR(period=14)``: ``update(high, low, close)``. ``VWAP()``:
``update(price, volume)`` and ``reset()`` for a new session (the caller finds
session starts: ``tickcast.features.vector``). ``LogReturn()``,
``RealizedVolatility(period)``: ``update(price)``. ``ZScore(period)``:
``update(value)``.

``update`` returns ``None`` until warmed up, then a ``float``; ``MACD`` returns
``MACDValue(macd, signal, histogram)`` and ``BollingerBands``
``BollingerValue(upper, middle, lower)`` (typed NamedTuples);
``BollingerBands.stddev`` gives the window's standard deviation without the
cancellation in ``upper - middle``. NaN or ±inf input raises ``ValueError``
and leaves the state untouched, as do non-positive prices for ``LogReturn`` /
``RealizedVolatility`` and negative volume for ``VWAP``. A period below the
minimum (1; 2 for ``ZScore``/``RealizedVolatility``) or above 100000 is a
``ValueError``, a non-``int`` period a ``TypeError``. Every indicator has
``ready``, ``reset()``, ``state()`` and ``Class.from_state(record)``.

Warm-up (first non-``None`` output, 1-based update number, = TA-Lib's first
non-NaN index + 1)
---------------------------------------------------------------------------
=====================  ==========================  ===============================
indicator              first value on update       seed
=====================  ==========================  ===============================
SMA(p)                 p                           mean of the window
EMA(p)                 p                           SMA of the first p values
RSI(p)                 p + 1                       Wilder: plain means of the first
                                                   p gains / losses
MACD(f, s, g)          s + g - 1 (34 for 12/26/9)  both EMAs seeded on update s:
                                                   slow by the mean of values
                                                   1..s, fast by the mean of values
                                                   s-f+1..s; signal by the mean of
                                                   the first g MACD values
BollingerBands(p, k)   p                           SMA ± k·population std
ATR(p)                 p + 1                       bar 1 only gives the previous
                                                   close; mean of the next p true
                                                   ranges, then Wilder
VWAP()                 first update with volume    session since the last reset()
LogReturn()            2                           -
RealizedVolatility(p)  p + 1                       sample std of p log returns
ZScore(p)              p                           window includes the value
=====================  ==========================  ===============================

Each module's docstring spells out its conventions and where it differs from
TA-Lib or talipp (RSI of a motionless window is 0.0 as in TA-Lib; MACD rejects
``fast > slow`` where TA-Lib swaps them; talipp seeds MACD's fast EMA and ATR
differently). Values agree with TA-Lib within 1e-9 relative - typically
1e-15; the rest is TA-Lib's never-refreshed running sums and its fused
multiply-adds, which Python 3.11 cannot reproduce bit for bit.

State records
-------------
``state()`` is the whole state as a flat JSON-friendly dict with ``"v"`` (the
class's schema version) and ``"kind"`` (its ``REGISTRY`` key); ring buffers
are plain lists, never pickles. ``from_state`` checks kind, version, field
names, types and ranges and raises ``ValueError`` with the field's name;
``tickcast.indicators.from_state(record)`` dispatches on ``kind``. A restored
indicator produces bit-identical output to one never serialised, through
``json.dumps``/``json.loads`` too (floats round-trip exactly via ``repr``).

Compiled build
--------------
``make`` compiles the modules with mypyc (``scripts/build-native.sh``;
updates 1.6-6x faster, same results; see docs/BENCHMARKS.md). ``BACKEND``
says which build was imported: ``"mypyc"`` or ``"python"``. The compiled
modules are used only if they are complete and not older than their source;
otherwise the pure-Python modules are, with a ``RuntimeWarning`` (see
``_backend``). ``TICKCAST_INDICATORS_PURE=1`` forces pure Python.

Accuracy and cost
-----------------
Every ``update`` is O(1) amortised with memory bounded by the period: windows
are fixed-size lists used as ring buffers, every class uses ``__slots__``.
Running window sums are recomputed exactly (``math.fsum``) on the first ring
wrap after 256 updates, so nothing drifts over millions of updates; VWAP's
session sums are Neumaier-compensated; variances use shifted moments with a
precision guard, stable for tiny variance at large price levels (see
``_window``). Inputs are expected to be Python floats (ints work; numpy
float64 works, more slowly). No I/O (beyond a ``stat`` per module at import,
to choose the build) and no imports beyond ``math``/``typing``: this package
is safe to use anywhere.
"""

from typing import Final

# First: decides between the compiled and the pure modules before any is imported.
from tickcast.indicators import _backend
from tickcast.indicators._base import MAX_PERIOD, Indicator, State
from tickcast.indicators.atr import ATR
from tickcast.indicators.bollinger import BollingerBands, BollingerValue
from tickcast.indicators.ema import EMA
from tickcast.indicators.log_return import LogReturn
from tickcast.indicators.macd import MACD, MACDValue
from tickcast.indicators.realized_volatility import RealizedVolatility
from tickcast.indicators.registry import REGISTRY, from_state
from tickcast.indicators.rsi import RSI
from tickcast.indicators.sma import SMA
from tickcast.indicators.vwap import VWAP
from tickcast.indicators.zscore import ZScore

BACKEND: Final[str] = _backend.loaded_backend()
"""``"mypyc"`` when the compiled modules were imported, ``"python"`` otherwise."""

__all__ = [
    "ATR",
    "BACKEND",
    "EMA",
    "MACD",
    "MAX_PERIOD",
    "REGISTRY",
    "RSI",
    "SMA",
    "VWAP",
    "BollingerBands",
    "BollingerValue",
    "Indicator",
    "LogReturn",
    "MACDValue",
    "RealizedVolatility",
    "State",
    "ZScore",
    "from_state",
]
