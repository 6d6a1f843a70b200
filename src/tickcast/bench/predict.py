"""One prediction of the served models, beside a bare numpy dot of the same weights and vector.

Usage::

    python -m tickcast.bench.predict [--calls N] [--bars B] [--seed S] [--check K]

What is timed is what the predict stage does per ready bar between decoding the
tickcast-features message and writing to Firestore (`Predictor.on_features`):
``registry.live()``, ``registry.shadow()`` (none by default) and
``live.predict(fm.features)``, from the message's ``features`` dict to the
``Prediction`` object. Models are the instance's defaults, built by the stage's
own ``registry_for(Settings)``: ``builtin:logreg-daily`` (the live default) and
``ensemble`` (its default blend, ``builtin:baseline=1,builtin:logreg-daily=3``).
The model refresh (one file read per ``TICKCAST_MODEL_REFRESH_S``, 60 s) does not
fall inside a run.

Feature vectors are realistic: B daily bars of a seeded geometric random walk
through ``FeatureSet`` (the features stage's code), the ready ones, each
serialised as a tickcast-features message and decoded with ``FeaturesMessage``,
so values and types are what predict receives. Calls cycle through them.

Beside each model, in the same run and interleaved call by call (so load on a
shared machine hits both alike): ``numpy.dot`` of the model's weights and the
same bar's standardised inputs, as float64 arrays built beforehand (for the
ensemble, its components' weighted coefficients and inputs concatenated); its
result is checked against the prediction's log-odds. Then, in a pass of its own
(its 30-80 µs per call would cool the caches between the calls above), the
per-call numpy path predict used before it moved to Python floats (kept here as
the exactness reference), interleaved with an empty call (the timer's own
floor). Every call is timed on its own with ``perf_counter_ns``; p50 and p99 are
over all N calls of a row, garbage collection on as in the service.

Before timing, K feature vectors (the realistic ones, then copies with values
missing, zero, NaN, infinite, tiny or huge) go through every model and its numpy
reference, whose Prediction pydantic validates (the served path builds it
without validating, `model.construct`): each Prediction must be identical (the
repr of every field, so the sign of a zero, NaN, int against float and tuple
against list count). A difference exits 1 without timing.

Exit status 0 when the benchmark ran, whether or not the target was met.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tickcast.bench.indicators import cpu_model
from tickcast.config import Settings
from tickcast.predict.ensemble import Ensemble
from tickcast.predict.inputs import INPUT_NAMES, input_list
from tickcast.predict.linear import CLIP, LinearModel
from tickcast.predict.model import (
    Features,
    Logit,
    Model,
    construct,
    move_scale,
    prediction_fields,
    validate_prediction,
)
from tickcast.predict.registry import Registry
from tickcast.predict.stage import registry_for
from tickcast.schema import Bar, FeaturesMessage, Prediction

TARGET_US = 10.0
"""One prediction, features dict to Prediction, in at most this many µs (judged on p50)."""

DAY_MS = 86_400_000
OPEN_MS = 14 * 3_600_000 + 30 * 60_000  # 14:30 UTC, a US session's open


# --------------------------------------------------------------------------- inputs


def feature_vectors(bars: int, seed: int) -> list[dict[str, float | None]]:
    """The ready feature vectors of `bars` daily bars, as predict decodes them."""
    from tickcast.features.vector import FeatureSet

    rng = random.Random(seed)
    fs = FeatureSet("AAPL")
    out: list[dict[str, float | None]] = []
    close = 100.0
    for i in range(bars):
        t = (19_000 + i) * DAY_MS + OPEN_MS
        opened = close
        close = opened * math.exp(rng.gauss(0.0, 0.015))
        high = max(opened, close) * (1.0 + abs(rng.gauss(0.0, 0.005)))
        low = min(opened, close) * (1.0 - abs(rng.gauss(0.0, 0.005)))
        volume = float(int(rng.lognormvariate(15.0, 0.4)))
        bar = Bar(
            t=t, o=opened, h=high, l=low, c=close, v=volume,
            vwap=(high + low + close) / 3.0, n=int(volume // 100) + 1,
        )  # fmt: skip
        features, ready, reason = fs.update(bar)
        if not ready:
            continue
        message = FeaturesMessage(
            symbol="AAPL",
            interval_s=86_400,
            seq=t + DAY_MS,
            bar=bar,
            features=features,
            ready=ready,
            reason=reason,
            trace={"event": (t + DAY_MS) * 1_000_000},
        )
        out.append(FeaturesMessage.model_validate_json(message.model_dump_json()).features)
    if not out:
        raise ValueError(f"{bars} bars never warm the features up: use more")
    return out


_ODD = (None, 0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1e-13, 1e-300, 1e300, -1e300, 1)


def odd_vectors(base: Sequence[Features], count: int, seed: int) -> list[dict[str, Any]]:
    """Copies of realistic vectors with one to four values replaced by awkward ones."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(count):
        f = dict(base[i % len(base)])
        names = list(f)
        if i % 10 == 9:
            f = {n: v for n, v in f.items() if rng.random() < 0.5}  # fields missing
        else:
            for _ in range(rng.randint(1, 4)):
                f[rng.choice(names)] = rng.choice(_ODD)
        out.append(f)
    return out


# ------------------------------------------------------------- the numpy reference


def _np_get(f: Features, name: str) -> np.float64:
    v = f.get(name)
    return np.float64(math.nan if v is None or not math.isfinite(v) else v)


def _np_raw_inputs(f: Features) -> np.ndarray:
    vol = _np_get(f, "rv_20")
    vol = vol if vol > 1e-12 else np.float64(math.nan)
    close = _np_get(f, "close")
    ema_26 = _np_get(f, "ema_26")
    vwap = _np_get(f, "vwap_session")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = np.array(
            [
                _np_get(f, "ret_1") / vol,
                _np_get(f, "sma_ratio") / vol,
                (_np_get(f, "rsi_14") - 50.0) / 50.0,
                (_np_get(f, "ema_12") / ema_26 - 1.0) / vol,
                _np_get(f, "macd_hist") / close / vol,
                _np_get(f, "bb_pctb") - 0.5,
                (close / vwap - 1.0) / vol,
                _np_get(f, "atr_14") / close / vol,
                _np_get(f, "volume_z_20"),
            ],
            dtype=np.float64,
        )
    x[~np.isfinite(x)] = np.nan
    return x


def _np_standardised(m: LinearModel, f: Features) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        z = (_np_raw_inputs(f)[[INPUT_NAMES.index(n) for n in m.names]] - m.mean) / m.std
    return np.clip(np.where(np.isnan(z), 0.0, z), -CLIP, CLIP)


def _np_logit(model: Model, f: Features) -> Logit:
    if isinstance(model, LinearModel):
        terms = model.coef * _np_standardised(model, f)
        return Logit(
            model.intercept,
            tuple(zip(model.names, (float(t) for t in terms), strict=True)),
            move_scale(f, model.horizon_bars),
        )
    assert isinstance(model, Ensemble)
    intercept = scale = 0.0
    pooled: dict[str, float] = {}
    for m, w in model.components:
        part = _np_logit(m, f)
        intercept += w * part.intercept
        scale += w * part.move_scale
        for name, c in part.contributions:
            pooled[name] = pooled.get(name, 0.0) + w * c
    return Logit(intercept, tuple(pooled.items()), scale)


def numpy_reference(model: Model) -> Callable[[Features], Prediction]:
    """The per-call numpy path predict served before it moved to Python floats, and the
    Prediction validated by pydantic, as before the stage built it without validating."""

    def reference(f: Features) -> Prediction:
        logit = _np_logit(model, f)
        names = [n for n, _ in logit.contributions]
        terms = [c for _, c in logit.contributions]
        fields = prediction_fields(model, logit.value, names, terms, logit.move_scale)
        return validate_prediction(fields)  # type: ignore[no-any-return]

    return reference


def check_exact(models: Sequence[Model], vectors: Sequence[Features]) -> str | None:
    """None when every model's Prediction equals its numpy reference's on every vector."""
    for model in models:
        reference = numpy_reference(model)
        for f in vectors:
            got, want = model.predict(f), reference(f)
            if repr(got) != repr(want):
                return f"{model.model_id} differs on {f!r}:\n  got  {got!r}\n  want {want!r}"
    return None


# --------------------------------------------------------------------------- timing


def dot_operands(model: Model, f: Features) -> tuple[np.ndarray, np.ndarray]:
    """The model's weights and this bar's standardised inputs, as the bare dot takes them."""
    if isinstance(model, LinearModel):
        return model.coef.copy(), _np_standardised(model, f)
    assert isinstance(model, Ensemble)
    parts = [dot_operands(m, f) for m, _ in model.components]
    weights = np.concatenate([w * p[0] for (_, w), p in zip(model.components, parts, strict=True)])
    return weights, np.concatenate([p[1] for p in parts])


def _intercept(model: Model) -> float:
    if isinstance(model, LinearModel):
        return model.intercept
    assert isinstance(model, Ensemble)
    return sum(w * _intercept(m) for m, w in model.components)


def _percentiles(ns: list[int]) -> tuple[float, float]:
    ns.sort()
    return ns[len(ns) // 2] / 1000, ns[min(len(ns) - 1, (len(ns) * 99) // 100)] / 1000


def time_model(
    registry: Registry, vectors: Sequence[Features], calls: int
) -> tuple[dict[str, tuple[float, float]], float]:
    """p50/p99 µs per call of the stage's per-bar model path and its references.

    Returns the figures by row key and the largest |dot + intercept - log-odds| seen.
    """
    live = registry.live()
    reference = numpy_reference(live)
    operands = [dot_operands(live, f) for f in vectors]
    intercept = _intercept(live)
    worst = max(
        abs(float(np.dot(w, z)) + intercept - _np_logit(live, f).value)
        for (w, z), f in zip(operands, vectors, strict=True)
    )
    n = len(vectors)

    def noop() -> None:
        return None

    def per_bar(f: Features) -> Prediction:  # Predictor.on_features, minus I/O
        model = registry.live()
        registry.shadow()
        return model.predict(f)

    clock = time.perf_counter_ns
    dot = np.dot
    samples: dict[str, list[int]] = {"predict": [], "dot": [], "numpy": [], "empty": []}
    pred, dots, ref, empty = (samples[k] for k in ("predict", "dot", "numpy", "empty"))
    for i in range(min(calls, 2_000)):  # warm: caches, branch history, the allocator
        f = vectors[i % n]
        per_bar(f)
        reference(f)
        dot(*operands[i % n])
    for i in range(calls):
        f = vectors[i % n]
        w, z = operands[i % n]
        if i & 1:  # alternate which of the two goes first
            t0 = clock()
            dot(w, z)
            t1 = clock()
            per_bar(f)
            t2 = clock()
            dots.append(t1 - t0)
            pred.append(t2 - t1)
        else:
            t0 = clock()
            per_bar(f)
            t1 = clock()
            dot(w, z)
            t2 = clock()
            pred.append(t1 - t0)
            dots.append(t2 - t1)
    for i in range(calls):
        f = vectors[i % n]
        t0 = clock()
        reference(f)
        t1 = clock()
        noop()
        t2 = clock()
        ref.append(t1 - t0)
        empty.append(t2 - t1)
    return {k: _percentiles(v) for k, v in samples.items()}, worst


def time_parts(
    model: LinearModel, vectors: Sequence[Features], calls: int
) -> dict[str, tuple[float, float]]:
    """p50/p99 µs of LinearModel.predict and of each of its steps, timed in one loop."""
    from tickcast.predict import model as pm

    clock = time.perf_counter_ns
    n = len(vectors)
    xs = [input_list(f) for f in vectors]
    terms = [model.terms(x) for x in xs]
    fields = [
        pm.prediction_fields(model, model.intercept + sum(t), model.names, t, 0.01) for t in terms
    ]
    keys = ("whole", "inputs", "terms", "prediction", "construct", "validation")
    samples: dict[str, list[int]] = {k: [] for k in keys}
    whole, inputs, weigh, build, made, valid = (samples[k] for k in keys)
    for i in range(calls):
        f, x, t = vectors[i % n], xs[i % n], terms[i % n]
        t0 = clock()
        model.predict(f)
        t1 = clock()
        input_list(f)
        t2 = clock()
        model.terms(x)
        t3 = clock()
        pm.prediction(model, model.intercept + sum(t), model.names, t, 0.01)
        t4 = clock()
        construct(fields[i % n])
        t5 = clock()
        validate_prediction(fields[i % n])
        t6 = clock()
        whole.append(t1 - t0)
        inputs.append(t2 - t1)
        weigh.append(t3 - t2)
        build.append(t4 - t3)
        made.append(t5 - t4)
        valid.append(t6 - t5)
    return {k: _percentiles(v) for k, v in samples.items()}


# --------------------------------------------------------------------------- output


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "—"


def format_table(figures: dict[str, dict[str, tuple[float, float]]], sizes: dict[str, int]) -> str:
    lines = [
        "| model | per call | p50 µs | p99 µs | p50 vs dot | p99 vs dot |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        d50, d99 = f["dot"]
        rows = [
            ("predict", "prediction: features dict -> Prediction"),
            ("dot", f"numpy dot, {sizes[name]} weights · {sizes[name]} inputs"),
            ("numpy", "numpy per-call path (before; the exactness reference)"),
        ]
        for key, what in rows:
            p50, p99 = f[key]
            lines.append(
                f"| {name} | {what} | {p50:.2f} | {p99:.2f} | {_ratio(p50, d50)} "
                f"| {_ratio(p99, d99)} |"
            )
    e50, e99 = next(iter(figures.values()))["empty"]
    lines.append(f"| — | empty call (the timer's floor) | {e50:.2f} | {e99:.2f} | | |")
    return "\n".join(lines)


def format_parts(name: str, parts: dict[str, tuple[float, float]]) -> str:
    what = {
        "whole": "the whole `LinearModel.predict` (no registry lookup)",
        "inputs": "1. inputs from the features dict (`input_list`)",
        "terms": "2. standardise and weigh (`LinearModel.terms`)",
        "prediction": "3. p_up, top factors, the Prediction (`model.prediction`)",
        "construct": "   of which building the Prediction object (`model.construct`)",
        "validation": "   (validating the same fields instead, as before: not in the path)",
    }
    lines = [
        f"Where the time goes, {name}, each step timed alone in one loop:",
        "",
        "| step | p50 µs | p99 µs |",
        "|---|---:|---:|",
    ]
    lines += [f"| {what[k]} | {p50:.2f} | {p99:.2f} |" for k, (p50, p99) in parts.items()]
    return "\n".join(lines)


def verdicts(figures: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    out = []
    for name, f in figures.items():
        p50, p99 = f["predict"]
        verdict = "PASS" if p50 <= TARGET_US else "MISS"
        out.append(
            f"target: one {name} prediction in at most {TARGET_US:g} µs (p50): "
            f"{p50:.2f} µs (p99 {p99:.2f}) -> {verdict}"
        )
    return out


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _versions() -> str:
    import pydantic

    return f"numpy {np.__version__}  pydantic {pydantic.VERSION}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tickcast.bench.predict",
        description="One prediction of the served models beside a bare numpy dot.",
    )
    p.add_argument("--calls", type=int, default=100_000, help="timed calls per row")
    p.add_argument("--bars", type=int, default=600, help="daily bars of the random walk")
    p.add_argument("--seed", type=int, default=7, help="random-walk seed")
    p.add_argument(
        "--check", type=int, default=5_000, help="odd vectors checked, beside the real ones"
    )
    args = p.parse_args(argv)
    if args.calls < 100 or args.bars < 60 or args.check < 0:
        p.error("--calls must be >= 100, --bars >= 60 and --check >= 0")

    arguments = sys.argv[1:] if argv is None else argv
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"command: {' '.join(['python -m tickcast.bench.predict', *arguments])}")
    print(f"cpu: {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"python: {platform.python_implementation()} {platform.python_version()}  {_versions()}")
    print(f"load average at the start: {_load()}")

    base = Settings.from_env({})
    registries = {
        "logreg-daily": registry_for(base),
        "ensemble": registry_for(base.model_copy(update={"model_uri": "ensemble"})),
    }
    vectors = feature_vectors(args.bars, args.seed)
    models = [r.live() for r in registries.values()]
    odd = odd_vectors(vectors, args.check, args.seed)
    problem = check_exact(models, [*vectors, *odd])
    if problem:
        print(f"exactness: MISMATCH against the numpy reference: {problem}")
        return 1
    print(
        f"vectors: {len(vectors)} ready feature vectors from {args.bars} daily bars "
        f"(seed {args.seed}), each through a FeaturesMessage; calls cycle through them"
    )
    print(
        f"exactness: {len(models)} models x {len(vectors) + len(odd):,} vectors "
        f"({len(odd):,} with odd values): every Prediction identical to the numpy reference"
    )
    print(
        f"calls: {args.calls:,} per row, each timed alone (perf_counter_ns), gc on; prediction "
        "and dot interleaved call by call, then the numpy path and the empty call\n"
    )

    figures: dict[str, dict[str, tuple[float, float]]] = {}
    sizes: dict[str, int] = {}
    worst = 0.0
    gc.collect()
    for name, registry in registries.items():
        figures[name], err = time_model(registry, vectors, args.calls)
        sizes[name] = len(dot_operands(registry.live(), vectors[0])[0])
        worst = max(worst, err)
        print(f"  measured {name}", file=sys.stderr, flush=True)
    live = models[0]
    assert isinstance(live, LinearModel)
    parts = time_parts(live, vectors, args.calls)

    print(format_table(figures, sizes))
    print(
        f"\nThe dot computes the same log-odds: |dot + intercept - score| <= {worst:.1e} "
        "over every vector (summation order differs).\n"
    )
    print(format_parts("logreg-daily", parts))
    print()
    print("\n".join(verdicts(figures)))
    print(f"load average at the end: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
