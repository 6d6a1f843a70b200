"""Shifted window moments, shared by BollingerBands, ZScore and RealizedVolatility.

Each of those keeps a ring buffer of the last ``n`` values and, for a shift
``K``, the running sums ``S = sum(x - K)`` and ``Q = sum((x - K)**2)``; the
centred sum of squares is ``C = Q - S*S/n`` and the variance ``C/n`` (or
``C/(n-1)``).

Why a shift: the identity holds for any ``K``, but its rounding error scales
with ``(x - K)**2`` rather than ``x**2``. With ``K`` a value from the window,
a variance of 1e-10 at a price of 1e4 keeps its digits; TA-Lib's
``E[x^2] - E[x]^2`` loses ``log10(x^2 / var)`` of them.

Why refresh: ``S`` and ``Q`` pick up one rounding per update. They are
recomputed exactly (``math.fsum``, new ``K`` = newest value) whenever the ring
buffer wraps, i.e. every ``n`` updates, so error never accumulates past one
window and the cost stays amortised O(1). They are also recomputed as soon as
``C`` falls to the size of the rounding error accumulated since the last
refresh (``err`` tracks the sum of squared terms added and removed): a window
that has become constant, such as a run of zero-volume bars, then gets an
exact ``C = 0`` instead of noise that a z-score would divide by. After a
refresh ``C >= Q/(n+1)`` or ``C == 0``, so that check cannot fire again until
new values arrive.
"""

from __future__ import annotations

import sys
from math import fsum

_EPS = sys.float_info.epsilon


def noise_factor(period: int) -> float:
    """Bound on (rounding error of C) / err between two refreshes, with margin."""
    return 8.0 * _EPS * (period + 2)


def refresh(buf: list[float], shift: float) -> tuple[float, float]:
    """Correctly rounded ``S`` and ``Q`` of a full window around ``shift``."""
    devs = [x - shift for x in buf]
    return fsum(devs), fsum([d * d for d in devs])
