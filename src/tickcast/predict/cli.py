"""`tickcast train` and `tickcast evaluate` (wired by `tickcast.cli` through `register`)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tickcast.cliargs import positive_float, positive_int
from tickcast.errors import TickcastError
from tickcast.predict import dataset, walkforward
from tickcast.predict.artifact import MODEL_ID_RE, save
from tickcast.predict.report import table

DEFAULT_ARCH = "sp500,nasdaq"


def _fraction(text: str) -> float:
    v = positive_float(text)
    if not v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


def _weight(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


def _date_ms(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)


def _model_id(text: str) -> str:
    if not MODEL_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: letters, digits, '.', '_', '-' only")
    return text


def _data_options(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--arch",
        metavar="NAMES",
        help=f"real daily series from the `arch` package, comma-separated (default {DEFAULT_ARCH})",
    )
    src.add_argument(
        "--csv", type=Path, help="OHLCV CSV (open,high,low,close,volume[,symbol,date,vwap])"
    )
    p.add_argument("--symbol", help="CSV: symbol when the file has no symbol column")
    p.add_argument(
        "--interval-s",
        type=positive_int,
        default=dataset.DAY_S,
        help="CSV: seconds per bar when rows have no date (default 86400)",
    )
    p.add_argument(
        "--horizon",
        type=positive_int,
        help="label: sign of the next N bars' log return (default TICKCAST_HORIZON_BARS)",
    )
    p.add_argument("--l2", type=positive_float, default=10.0, help="L2 penalty (default 10)")
    p.add_argument(
        "--folds", type=positive_int, default=6, help="walk-forward test blocks (default 6)"
    )
    p.add_argument(
        "--initial-fraction",
        type=_fraction,
        default=0.4,
        help="share of bar times in the first training window (default 0.4)",
    )
    p.add_argument(
        "--ensemble-weight",
        type=_weight,
        default=0.75,
        help="weight of the trained model in the evaluated ensemble (default 0.75, as shipped)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tp = sub.add_parser(
        "train",
        help="fit the logistic model on OHLCV bars and write a model artifact",
        description="Fit an L2 logistic regression on features computed by the live feature code, "
        "evaluate it walk-forward, and write <out>.npz + <out>.json.",
    )
    _data_options(tp)
    tp.add_argument("--out", type=Path, required=True, help="artifact path without extension")
    tp.add_argument(
        "--model-id", type=_model_id, default="logreg-daily", help="model id (default logreg-daily)"
    )
    tp.add_argument(
        "--train-end", type=_date_ms, help="ISO date: train only on labels known by then"
    )
    tp.set_defaults(func=run_train)

    ep = sub.add_parser(
        "evaluate",
        help="walk-forward evaluation against naive baselines",
        description="Expanding-window walk-forward: accuracy, AUC, Brier and log loss of the "
        "trained model next to the base rate, last-return sign and SMA-crossover rules.",
    )
    _data_options(ep)
    ep.set_defaults(func=run_evaluate)


def _series(args: argparse.Namespace) -> tuple[list[dataset.PriceSeries], list[str]]:
    if args.csv is not None:
        return dataset.read_csv(args.csv, args.symbol, args.interval_s), [f"csv:{args.csv.name}"]
    names = [n.strip() for n in (args.arch or DEFAULT_ARCH).split(",") if n.strip()]
    if not names:
        raise TickcastError("--arch: name at least one series")
    return dataset.from_arch(names), [f"arch:{n}" for n in names]


def _config(args: argparse.Namespace) -> walkforward.Config:
    horizon = args.horizon
    if horizon is None:
        from tickcast.config import Settings

        horizon = Settings.from_env(os.environ).horizon_bars
    return walkforward.Config(
        horizon_bars=horizon,
        l2=args.l2,
        folds=args.folds,
        initial_fraction=args.initial_fraction,
        ensemble_weight=args.ensemble_weight,
    )


def _prepare(args: argparse.Namespace) -> tuple[dataset.Samples, walkforward.Config, list[str]]:
    series, sources = _series(args)
    cfg = _config(args)
    return dataset.samples(series, cfg.horizon_bars), cfg, sources


def _write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")


def run_evaluate(args: argparse.Namespace) -> int:
    s, cfg, sources = _prepare(args)
    try:
        report = walkforward.evaluate(s, cfg)
    except ValueError as exc:
        raise TickcastError(str(exc)) from None
    symbols = sorted(set(s.symbol.tolist()))
    print(table(report, symbols))
    _write_json(args.json, {"sources": sources, "symbols": symbols, **report})
    return 0


def run_train(args: argparse.Namespace) -> int:
    from tickcast.predict.training import train

    s, cfg, sources = _prepare(args)
    try:
        trained = train(
            s, cfg, model_id=args.model_id, sources=sources, train_end_ms=args.train_end
        )
    except ValueError as exc:
        raise TickcastError(str(exc)) from None
    path = save(args.out, trained.meta, trained.coef, trained.intercept)
    t = trained.meta.training
    print(
        f"wrote {path} (+ .npz): {trained.meta.model_id} {trained.meta.model_version}, "
        f"{t['samples']} samples {t['start'][:10]} .. {t['end'][:10]}"
    )
    print(table(trained.report, t["symbols"]))
    _write_json(args.json, {"sources": sources, **trained.report})
    return 0
