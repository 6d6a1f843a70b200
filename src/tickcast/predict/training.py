"""`tickcast train`: fit the logistic model on every labelled sample and record
how it did out of sample (walk-forward) in the artifact's metadata.

Reproducible: the same data and the same model code give the same files, byte
for byte. Nothing in an artifact depends on when or where it was built: the
version is the last label's date and a hash of the weights and statistics;
`code_version.git` is the last commit that changed the code a model is built
from (MODEL_CODE), not HEAD, so unrelated commits do not change it; and
`created_at` is that commit's time. Only when that code has uncommitted
changes (`-dirty`, or no git at all) is `created_at` the wall-clock time: such
a model cannot be rebuilt from a commit anyway.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import tickcast
from tickcast.features.vector import FEATURE_NAMES
from tickcast.features.vector import SCHEMA_VERSION as FEATURE_SCHEMA
from tickcast.predict import logistic, metrics, walkforward
from tickcast.predict.artifact import ArtifactMeta, Normalisation
from tickcast.predict.dataset import Samples
from tickcast.predict.inputs import INPUT_NAMES

LABEL = "1 if log(close[t + horizon_bars] / close[t]) > 0 else 0"


@dataclass(frozen=True, eq=False)
class Trained:
    meta: ArtifactMeta
    coef: np.ndarray
    intercept: float
    report: dict[str, Any]  # the walk-forward evaluation


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


# What a trained artifact is a function of, besides its data and options: the
# feature code that turns bars into samples, the fit, and the settings' defaults.
MODEL_CODE = (
    "src/tickcast/predict",
    "src/tickcast/features",
    "src/tickcast/indicators",
    "src/tickcast/schema.py",
    "src/tickcast/config.py",
)


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def code_version(root: Path | None = None) -> tuple[dict[str, str | None], str | None]:
    """The code a model is built from, and that code's commit time (None when dirty)."""
    root = root or Path(__file__).resolve().parents[3]

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *argv], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    sha: str | None = None
    committed: str | None = None
    try:
        sha, _, stamp = git("log", "-1", "--format=%H %ct", "--", *MODEL_CODE).partition(" ")
        sha = sha[:12] or None
        committed = iso(int(stamp) * 1000) if stamp else None
        # Uncommitted changes to the code mean the commit alone does not reproduce the model.
        if sha and git("status", "--porcelain", "--", *MODEL_CODE):
            sha, committed = sha + "-dirty", None
    except (OSError, subprocess.SubprocessError, ValueError):
        sha, committed = None, None
    version = {
        "tickcast": tickcast.__version__,
        "git": sha,
        # The data of `--arch` ships with the arch package; numpy does the arithmetic.
        "arch": _package_version("arch"),
        "numpy": np.__version__,
    }
    return version, committed


def train(
    s: Samples,
    cfg: walkforward.Config,
    *,
    model_id: str,
    sources: list[str],
    train_end_ms: int | None = None,
) -> Trained:
    if train_end_ms is not None:
        s = s.take(s.label_seq <= train_end_ms)  # nothing learned from labels after the end
    if len(s) < 100:
        raise ValueError(f"{len(s)} labelled samples are too few to train on")
    fit = logistic.fit(s.x, s.y, cfg.l2)
    report = walkforward.evaluate(s, cfg)
    digest = hashlib.sha256(
        b"".join(a.tobytes() for a in (fit.coef, np.float64(fit.intercept), fit.mean, fit.std))
        + ",".join(INPUT_NAMES).encode()
    ).hexdigest()
    end = int(s.label_seq.max())
    in_sample = metrics.summary(s.y, fit.p_up(s.x))
    code, committed = code_version()
    meta = ArtifactMeta(
        model_id=model_id,
        model_version=f"{datetime.fromtimestamp(end / 1000, UTC):%Y%m%d}-{digest[:8]}",
        horizon_bars=cfg.horizon_bars,
        feature_schema=FEATURE_SCHEMA,
        features=list(FEATURE_NAMES),
        inputs=list(INPUT_NAMES),
        normalisation=Normalisation(mean=fit.mean.tolist(), std=fit.std.tolist()),
        l2=cfg.l2,
        training={
            "sources": sources,
            "symbols": sorted(set(s.symbol.tolist())),
            "interval_s": s.interval_s,
            "times": "bar ends (seq), UTC",
            "start": iso(int(s.seq.min())),
            "end": iso(end),
            "samples": len(s),
            "up_rate": float(s.y.mean()),
            "label": LABEL,
            "newton_iterations": fit.iterations,
        },
        metrics={
            "in_sample": in_sample,
            "walk_forward": {
                "test_start": iso(report["test_start"]),
                "test_end": iso(report["test_end"]),
                "folds": report["config"]["folds"],
                **{
                    m: report["metrics"][m]
                    for m in ("logreg", "base_rate", "last_return", "sma_crossover")
                },
            },
        },
        code_version=code,
        created_at=committed or iso(int(time.time()) * 1000),
    )
    return Trained(meta=meta, coef=fit.coef, intercept=fit.intercept, report=report)
