"""Per-update cost of tickcast indicators against talipp, with TA-Lib batch as the floor.

Usage::

    python -m tickcast.bench.indicators [--points N] [--repeat R] [--seed S]

For each indicator, one run feeds N points of a seeded geometric random walk
to a fresh instance; the best of R runs (tickcast and talipp interleaved, so
background load hits both alike) gives ns per update, loop and call included.
TA-Lib's vectorised function on the same arrays gives ns per point: the floor
no per-update Python API can reach. Memory is tracemalloc's peak while one
tickcast instance takes N updates (inputs allocated beforehand), i.e. the
bounded state plus one update's transient objects.

Prints a Markdown table (paste it into docs/BENCHMARKS.md) preceded by the
machine, Python version, date and command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tickcast.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    LogReturn,
    RealizedVolatility,
    ZScore,
)

Feeder = Callable[[Any], int]
"""Feeds the whole series to one instance; returns elapsed nanoseconds."""


@dataclass(frozen=True)
class Series:
    """The benchmark inputs, built once: Python lists for updates, arrays for TA-Lib."""

    close: list[float]
    bars: list[tuple[float, float, float]]
    trades: list[tuple[float, float]]
    ohlcv: list[Any]
    arrays: dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    tickcast: Callable[[], Any]
    feed: Callable[[Any, Series], int]
    talipp: Callable[[], Any] | None
    talipp_feed: Callable[[Any, Series], int] | None
    talib: Callable[[dict[str, Any]], object] | None


@dataclass(frozen=True)
class Row:
    name: str
    tickcast_ns: float
    talipp_ns: float | None
    talib_ns: float | None
    tickcast_bytes: int


def _feed_values(indicator: Any, series: Series) -> int:
    update = indicator.update
    values = series.close
    start = time.perf_counter_ns()
    for x in values:
        update(x)
    return time.perf_counter_ns() - start


def _feed_bars(indicator: Any, series: Series) -> int:
    update = indicator.update
    bars = series.bars
    start = time.perf_counter_ns()
    for high, low, close in bars:
        update(high, low, close)
    return time.perf_counter_ns() - start


def _feed_trades(indicator: Any, series: Series) -> int:
    update = indicator.update
    trades = series.trades
    start = time.perf_counter_ns()
    for price, volume in trades:
        update(price, volume)
    return time.perf_counter_ns() - start


def _talipp_values(indicator: Any, series: Series) -> int:
    add = indicator.add
    values = series.close
    start = time.perf_counter_ns()
    for x in values:
        add(x)
    return time.perf_counter_ns() - start


def _talipp_ohlcv(indicator: Any, series: Series) -> int:
    add = indicator.add
    bars = series.ohlcv
    start = time.perf_counter_ns()
    for bar in bars:
        add(bar)
    return time.perf_counter_ns() - start


class _Noop:
    """The floor of any per-update Python API: a loop calling a method that does nothing."""

    __slots__ = ()

    def update(self, value: float) -> None:
        return None


def _cases() -> list[Case]:
    import talib
    from talib._ta_lib import MA_Type
    from talipp import indicators as tp

    return [
        Case("SMA(20)", lambda: SMA(20), _feed_values, lambda: tp.SMA(20), _talipp_values,
             lambda a: talib.SMA(a["close"], 20)),
        Case("EMA(20)", lambda: EMA(20), _feed_values, lambda: tp.EMA(20), _talipp_values,
             lambda a: talib.EMA(a["close"], 20)),
        Case("RSI(14)", lambda: RSI(14), _feed_values, lambda: tp.RSI(14), _talipp_values,
             lambda a: talib.RSI(a["close"], 14)),
        Case("MACD(12,26,9)", MACD, _feed_values, lambda: tp.MACD(12, 26, 9), _talipp_values,
             lambda a: talib.MACD(a["close"], 12, 26, 9)),
        Case("BollingerBands(20,2)", lambda: BollingerBands(20, 2.0), _feed_values,
             lambda: tp.BB(20, 2.0), _talipp_values,
             lambda a: talib.BBANDS(a["close"], 20, 2.0, 2.0, MA_Type.SMA)),
        Case("ATR(14)", lambda: ATR(14), _feed_bars, lambda: tp.ATR(14), _talipp_ohlcv,
             lambda a: talib.ATR(a["high"], a["low"], a["close"], 14)),
        Case("VWAP (talipp: OHLCV)", VWAP, _feed_trades, tp.VWAP, _talipp_ohlcv, None),
        Case("LogReturn", LogReturn, _feed_values, None, None, None),
        Case("RealizedVolatility(20)", lambda: RealizedVolatility(20), _feed_values,
             None, None, None),
        Case("ZScore(20)", lambda: ZScore(20), _feed_values, None, None, None),
    ]  # fmt: skip


def _series(points: int, seed: int) -> Series:
    import numpy as np
    from talipp.ohlcv import OHLCV

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, points)))
    opened = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, 1e-3, (2, points)))
    high = np.maximum(opened, close) * (1.0 + spread[0])
    low = np.minimum(opened, close) * (1.0 - spread[1])
    volume = np.floor(rng.lognormal(8.0, 1.0, points))
    close_list = close.tolist()
    columns = (opened.tolist(), high.tolist(), low.tolist(), close_list, volume.tolist())
    bars = list(zip(high.tolist(), low.tolist(), close_list, strict=True))
    return Series(
        close=close_list,
        bars=bars,
        trades=list(zip(close_list, volume.tolist(), strict=True)),
        ohlcv=[OHLCV(*bar) for bar in zip(*columns, strict=True)],
        arrays={"close": close, "high": high, "low": low},
    )


def _best_batch(
    run: Callable[[dict[str, Any]], object], arrays: dict[str, Any], repeat: int
) -> int:
    best = sys.maxsize
    for _ in range(max(repeat, 3)):
        start = time.perf_counter_ns()
        run(arrays)
        best = min(best, time.perf_counter_ns() - start)
    return best


def _peak_bytes(case: Case, series: Series) -> int:
    tracemalloc.start()
    try:
        indicator = case.tickcast()
        case.feed(indicator, series)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def measure(case: Case, series: Series, repeat: int) -> Row:
    """Best-of-``repeat`` ns per update for tickcast and talipp, interleaved."""
    points = len(series.close)
    ours = theirs = sys.maxsize
    for _ in range(repeat):
        ours = min(ours, case.feed(case.tickcast(), series))
        if case.talipp is not None and case.talipp_feed is not None:
            theirs = min(theirs, case.talipp_feed(case.talipp(), series))
    talib_ns = _best_batch(case.talib, series.arrays, repeat) if case.talib else None
    return Row(
        name=case.name,
        tickcast_ns=ours / points,
        talipp_ns=theirs / points if case.talipp is not None else None,
        talib_ns=talib_ns / points if talib_ns is not None else None,
        tickcast_bytes=_peak_bytes(case, series),
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(rows: Sequence[Row]) -> str:
    lines = [
        "| indicator | tickcast ns/update | talipp ns/update | speed-up | "
        "TA-Lib batch ns/point | tickcast bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        talipp = f"{row.talipp_ns:,.0f}" if row.talipp_ns is not None else "—"
        speedup = f"{row.talipp_ns / row.tickcast_ns:.1f}x" if row.talipp_ns is not None else "—"
        talib = f"{row.talib_ns:.1f}" if row.talib_ns is not None else "—"
        lines.append(
            f"| {row.name} | {row.tickcast_ns:,.0f} | {talipp} | {speedup} | {talib} "
            f"| {row.tickcast_bytes:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tickcast.bench.indicators",
        description="Per-update cost of tickcast indicators vs talipp and TA-Lib batch.",
    )
    parser.add_argument("--points", type=int, default=200_000, help="updates per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per indicator (best kept)")
    parser.add_argument("--seed", type=int, default=7, help="random-walk seed")
    parser.add_argument("--only", nargs="*", default=None, help="indicator name prefixes to run")
    args = parser.parse_args(argv)
    if args.points < 100 or args.repeat < 1:
        parser.error("--points must be >= 100 and --repeat >= 1")
    try:
        cases = _cases()
        series = _series(args.points, args.seed)
    except ImportError as exc:  # the comparison libraries are dev extras
        print(f"missing benchmark dependency: {exc}; install tickcast[dev]", file=sys.stderr)
        return 2
    if args.only:
        cases = [c for c in cases if any(c.name.startswith(p) for p in args.only)]

    command = "python -m tickcast.bench.indicators " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"command: {command.strip()}")
    print(f"cpu: {_cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"python: {platform.python_implementation()} {platform.python_version()}")
    print(f"points: {args.points:,}  repeat: {args.repeat} (best run kept)\n")

    rows = []
    for case in cases:
        rows.append(measure(case, series, args.repeat))
        print(f"  measured {case.name}", file=sys.stderr, flush=True)
    noop = min(_feed_values(_Noop(), series) for _ in range(args.repeat)) / args.points
    print(format_table(rows))
    print(f"\nfloor: a Python loop calling a no-op method costs {noop:,.0f} ns/update here.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
