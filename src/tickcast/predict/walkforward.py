"""Walk-forward (expanding window) evaluation against naive baselines (pure).

The distinct bar times are split once: the first `initial_fraction` is the
first training window, the rest `folds` consecutive test blocks. Fold k trains
on every sample whose label was known by the start of block k (so no label
reaches into the test block) and predicts block k. Everything learned - the
normalisation statistics, the weights, the base rate, the rules' hit rates -
comes from that fold's training rows alone.

Baselines, each scored on exactly the same test rows:
- `base_rate`: P(up) = the training up-rate (its accuracy is the majority class);
- `last_return`: call up when the last bar's return was > 0; its probability is
  the training up-rate following each sign (so Brier/log loss are fair);
- `sma_crossover`: call up when SMA(10) > SMA(30), probabilities likewise;
- `baseline`: the fixed-weight `builtin:baseline`, not trained;
- `ensemble`: the trained model and the baseline pooled in log-odds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tickcast.predict import logistic, metrics
from tickcast.predict.baseline import baseline
from tickcast.predict.dataset import Samples
from tickcast.predict.inputs import INPUT_NAMES

MODELS = ("logreg", "baseline", "ensemble", "base_rate", "last_return", "sma_crossover")
_MOMENTUM = INPUT_NAMES.index("momentum")
_TREND = INPUT_NAMES.index("trend")


@dataclass(frozen=True)
class Config:
    horizon_bars: int = 1
    l2: float = 10.0
    folds: int = 6
    initial_fraction: float = 0.4
    ensemble_weight: float = 0.5  # of the trained model; the baseline gets the rest

    def __post_init__(self) -> None:
        if self.folds < 1:
            raise ValueError("folds must be >= 1")
        if not 0 < self.initial_fraction < 1:
            raise ValueError("initial_fraction must be in (0, 1)")
        if not 0 <= self.ensemble_weight <= 1:
            raise ValueError("ensemble_weight must be in [0, 1]")


@dataclass(frozen=True, eq=False)
class Fold:
    train: np.ndarray  # boolean masks over the samples
    test: np.ndarray
    test_start: int  # seq (epoch ms)
    test_end: int


def folds(s: Samples, cfg: Config) -> list[Fold]:
    times = np.unique(s.seq)
    first = int(len(times) * cfg.initial_fraction)
    blocks = [b for b in np.array_split(times[first:], cfg.folds) if len(b)]
    if first == 0 or not blocks:
        raise ValueError(f"{len(times)} bar times are too few for {cfg.folds} folds")
    out = []
    for block in blocks:
        start, end = int(block[0]), int(block[-1])
        test = (s.seq >= start) & (s.seq <= end)
        train = s.label_seq <= start  # the label must be known when the block starts
        out.append(Fold(train=train, test=test, test_start=start, test_end=end))
    return out


def _rule_p(rule_train: np.ndarray, y_train: np.ndarray, rule_test: np.ndarray) -> np.ndarray:
    """A rule's probability: the training up-rate after each state of the rule."""
    base = float(y_train.mean())
    p_true = float(y_train[rule_train].mean()) if rule_train.any() else base
    p_false = float(y_train[~rule_train].mean()) if (~rule_train).any() else base
    return np.where(rule_test, p_true, p_false)


def _rule_calls(p: np.ndarray, rule: np.ndarray) -> np.ndarray:
    # Accuracy judges the rule's own call (up when the rule says so), not its probability.
    return np.where(rule, 1.0, 0.0)


def fold_predictions(s: Samples, fold: Fold, cfg: Config) -> dict[str, np.ndarray]:
    xtr, ytr, xte = s.x[fold.train], s.y[fold.train], s.x[fold.test]
    fit = logistic.fit(xtr, ytr, cfg.l2)
    lr_logit = fit.logit(xte)
    bl_logit = baseline(cfg.horizon_bars).logits(xte)
    w = cfg.ensemble_weight
    mom_tr, mom_te = xtr[:, _MOMENTUM] > 0, xte[:, _MOMENTUM] > 0
    sma_tr, sma_te = xtr[:, _TREND] > 0, xte[:, _TREND] > 0
    return {
        "logreg": logistic._sigmoid(lr_logit),
        "baseline": logistic._sigmoid(bl_logit),
        "ensemble": logistic._sigmoid(w * lr_logit + (1 - w) * bl_logit),
        "base_rate": np.full(len(xte), float(ytr.mean())),
        "last_return": _rule_p(mom_tr, ytr, mom_te),
        "sma_crossover": _rule_p(sma_tr, ytr, sma_te),
    }


def evaluate(s: Samples, cfg: Config) -> dict[str, Any]:
    fs = folds(s, cfg)
    probs: dict[str, list[np.ndarray]] = {m: [] for m in MODELS}
    ys: list[np.ndarray] = []
    rules: dict[str, list[np.ndarray]] = {"last_return": [], "sma_crossover": []}
    per_fold = []
    for fold in fs:
        pred = fold_predictions(s, fold, cfg)
        y = s.y[fold.test]
        ys.append(y)
        for m in MODELS:
            probs[m].append(pred[m])
        rules["last_return"].append(s.x[fold.test, _MOMENTUM] > 0)
        rules["sma_crossover"].append(s.x[fold.test, _TREND] > 0)
        per_fold.append(
            {
                "test_start": fold.test_start,
                "test_end": fold.test_end,
                "train_n": int(fold.train.sum()),
                "test_n": int(fold.test.sum()),
                "logreg_accuracy": metrics.accuracy(y, pred["logreg"]),
                "base_rate_accuracy": metrics.accuracy(y, pred["base_rate"]),
            }
        )
    y_all = np.concatenate(ys)
    table = {}
    for m in MODELS:
        p = np.concatenate(probs[m])
        row = metrics.summary(y_all, p)
        if m in rules:
            call = np.concatenate(rules[m])
            row["accuracy"] = float(np.mean(call == (y_all == 1)))
        table[m] = row
    return {
        "config": {
            "horizon_bars": cfg.horizon_bars,
            "l2": cfg.l2,
            "folds": len(fs),
            "initial_fraction": cfg.initial_fraction,
            "ensemble_weight": cfg.ensemble_weight,
        },
        "test_start": fs[0].test_start,
        "test_end": fs[-1].test_end,
        "test_up_rate": float(y_all.mean()),
        "metrics": table,
        "calibration": {
            "logreg": metrics.calibration(y_all, np.concatenate(probs["logreg"])),
            "ensemble": metrics.calibration(y_all, np.concatenate(probs["ensemble"])),
        },
        "folds": per_fold,
    }
