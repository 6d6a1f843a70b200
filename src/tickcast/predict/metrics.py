"""Scores of probabilistic direction forecasts (pure).

`y` is 1 when the realised move was up (> 0), else 0; `p` is P(up).
Accuracy calls `up` when p > 0.5. AUC is the Mann-Whitney statistic with ties
counted half. Log loss clips p to [1e-15, 1 - 1e-15].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS = 1e-15


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p > 0.5) == (y == 1)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    pos = int((y == 1).sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    # Average ranks over ties (1-based), so a constant forecast scores exactly 0.5.
    i = 0
    while i < len(p):
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def summary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    n = len(y)
    acc = accuracy(y, p)
    return {
        "n": n,
        "accuracy": acc,
        # 95% half-width of the accuracy: how far from 0.5 is noise at this n.
        "accuracy_ci95": 1.96 * math.sqrt(max(acc * (1 - acc), 1e-12) / n) if n else float("nan"),
        "auc": auc(y, p),
        "brier": brier(y, p),
        "log_loss": log_loss(y, p),
    }


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Equal-count bins of p: mean forecast vs observed up-rate in each."""
    order = np.argsort(p, kind="mergesort")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        rows.append(
            {
                "p_low": float(p[chunk].min()),
                "p_high": float(p[chunk].max()),
                "mean_p": float(p[chunk].mean()),
                "observed_up": float(y[chunk].mean()),
                "n": len(chunk),
            }
        )
    return rows
