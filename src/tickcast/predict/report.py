"""The walk-forward report as a plain-text table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tickcast.predict.walkforward import MODELS

LABELS = {
    "logreg": "logreg (trained)",
    "baseline": "baseline (fixed)",
    "ensemble": "ensemble",
    "base_rate": "base rate",
    "last_return": "sign of last return",
    "sma_crossover": "SMA(10/30) crossover",
}


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def table(report: dict[str, Any], symbols: list[str]) -> str:
    cfg = report["config"]
    n = report["metrics"]["logreg"]["n"]
    lines = [
        f"walk-forward (expanding window): {cfg['folds']} folds, {n} test bars "
        f"{_day(report['test_start'])} .. {_day(report['test_end'])} ({', '.join(symbols)}), "
        f"horizon {cfg['horizon_bars']} bar(s), l2 {cfg['l2']:g}, "
        f"ensemble weight {cfg['ensemble_weight']:g}",
        f"test up-rate {report['test_up_rate']:.4f}",
        "",
        f"{'model':<22}{'accuracy':>16}{'AUC':>8}{'Brier':>9}{'log loss':>10}",
    ]
    for m in MODELS:
        r = report["metrics"][m]
        acc = f"{r['accuracy']:.4f} ±{r['accuracy_ci95']:.4f}"
        lines.append(
            f"{LABELS[m]:<22}{acc:>16}{r['auc']:>8.4f}{r['brier']:>9.4f}{r['log_loss']:>10.4f}"
        )
    lines += [
        "",
        "calibration of logreg (equal-count bins): forecast vs observed up-rate",
        f"{'p range':<18}{'mean p':>8}{'observed':>10}{'n':>7}",
    ]
    for row in report["calibration"]["logreg"]:
        rng = f"{row['p_low']:.3f}-{row['p_high']:.3f}"
        lines.append(f"{rng:<18}{row['mean_p']:>8.3f}{row['observed_up']:>10.3f}{row['n']:>7}")
    return "\n".join(lines)
