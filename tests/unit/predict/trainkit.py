"""Helpers of the `tickcast train|evaluate` tests: a module of its own (not conftest) so
`from trainkit import ...` names one file."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tickcast.predict.cli import register


def run_cli(argv: list[str]) -> int:
    """`tickcast train|evaluate ...` in-process, as the CLI would run it."""
    parser = argparse.ArgumentParser(prog="tickcast")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def daily_csv(path: Path, seed: int, days: int) -> Path:
    """Two symbols' random-walk daily OHLCV bars, the CSV `tickcast train` reads."""
    rng = np.random.default_rng(seed)
    lines = ["date,symbol,open,high,low,close,volume"]
    for sym in ("AAA", "BBB"):
        c = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
        for i, x in enumerate(c):
            day = np.datetime64("2020-01-01") + np.timedelta64(i, "D")
            lines.append(f"{day},{sym},{x:.4f},{x * 1.01:.4f},{x * 0.99:.4f},{x:.4f},{1000 + i}")
    path.write_text("\n".join(lines) + "\n")
    return path
