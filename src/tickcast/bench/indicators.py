"""Per-update cost of tickcast indicators against talipp, with TA-Lib batch as the floor.

Usage::

    python -m tickcast.bench.indicators [--points N] [--repeat R] [--seed S] [--only NAME ...]

Each run feeds N points of a seeded geometric random walk to one fresh
tickcast instance and one fresh talipp instance in lock step, 5,000 updates
at a time (a tickcast segment, then the same talipp segment), so background
load on a shared machine hits both alike. Of R runs, each segment's fastest
time is kept, which discards bursts of other work and nothing else (segments
are the same updates at the same instance age in every run, so a cost that
grows with history, like talipp's, still counts in full). The result is ns
per update, loop and call included. TA-Lib's vectorised function on the same
arrays gives ns per point: the floor no per-update Python API can reach.
Memory is tracemalloc's peak while one tickcast instance is built and takes
all N updates (inputs allocated beforehand): the bounded state plus one
update's transient objects.

Prints a Markdown table (for docs/BENCHMARKS.md) after the date, command,
machine and Python version.
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
from functools import partial
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

SEGMENT = 5_000
"""Updates per timed segment."""

Segments = list[list[Any]]
Timer = Callable[[Callable[..., Any], list[Any]], int]
"""Times one segment of updates through a bound ``update``/``add``; returns ns."""
SegmentTimer = Callable[[list[Any]], int]
"""Times one segment of updates on instances it holds; returns ns."""


def _time_one_arg(update: Callable[..., Any], segment: list[Any]) -> int:
    start = time.perf_counter_ns()
    for x in segment:
        update(x)
    return time.perf_counter_ns() - start


def _time_bars(update: Callable[..., Any], segment: list[Any]) -> int:
    start = time.perf_counter_ns()
    for high, low, close in segment:
        update(high, low, close)
    return time.perf_counter_ns() - start


def _time_trades(update: Callable[..., Any], segment: list[Any]) -> int:
    start = time.perf_counter_ns()
    for price, volume in segment:
        update(price, volume)
    return time.perf_counter_ns() - start


@dataclass(frozen=True)
class Series:
    """Benchmark inputs, built once: segmented Python lists for updates, arrays for TA-Lib."""

    inputs: dict[str, Segments]  # "close", "bars", "trades", "ohlcv"
    arrays: dict[str, Any]  # "close", "high", "low"
    points: int


@dataclass(frozen=True)
class Case:
    name: str
    tickcast: Callable[[], Any]
    inputs: str
    talipp: Callable[[], Any] | None = None
    talipp_inputs: str = "close"
    talib: Callable[[dict[str, Any]], object] | None = None

    @property
    def timer(self) -> Timer:
        return {"bars": _time_bars, "trades": _time_trades}.get(self.inputs, _time_one_arg)


@dataclass(frozen=True)
class Row:
    name: str
    tickcast_ns: float
    talipp_ns: float | None
    talib_ns: float | None
    tickcast_bytes: int


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
        Case("SMA(20)", lambda: SMA(20), "close", lambda: tp.SMA(20),
             talib=lambda a: talib.SMA(a["close"], 20)),
        Case("EMA(20)", lambda: EMA(20), "close", lambda: tp.EMA(20),
             talib=lambda a: talib.EMA(a["close"], 20)),
        Case("RSI(14)", lambda: RSI(14), "close", lambda: tp.RSI(14),
             talib=lambda a: talib.RSI(a["close"], 14)),
        Case("MACD(12,26,9)", MACD, "close", lambda: tp.MACD(12, 26, 9),
             talib=lambda a: talib.MACD(a["close"], 12, 26, 9)),
        Case("BollingerBands(20,2)", lambda: BollingerBands(20, 2.0), "close",
             lambda: tp.BB(20, 2.0),
             talib=lambda a: talib.BBANDS(a["close"], 20, 2.0, 2.0, MA_Type.SMA)),
        Case("ATR(14)", lambda: ATR(14), "bars", lambda: tp.ATR(14), "ohlcv",
             talib=lambda a: talib.ATR(a["high"], a["low"], a["close"], 14)),
        Case("VWAP (talipp: OHLCV)", VWAP, "trades", tp.VWAP, "ohlcv"),
        Case("LogReturn", LogReturn, "close"),
        Case("RealizedVolatility(20)", lambda: RealizedVolatility(20), "close"),
        Case("ZScore(20)", lambda: ZScore(20), "close"),
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
    columns = [c.tolist() for c in (opened, high, low, close, volume)]
    flat: dict[str, list[Any]] = {
        "close": columns[3],
        "bars": list(zip(columns[1], columns[2], columns[3], strict=True)),
        "trades": list(zip(columns[3], columns[4], strict=True)),
        "ohlcv": [OHLCV(*bar) for bar in zip(*columns, strict=True)],
    }
    return Series(
        inputs={
            key: [items[i : i + SEGMENT] for i in range(0, points, SEGMENT)]
            for key, items in flat.items()
        },
        arrays={"close": close, "high": high, "low": low},
        points=points,
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
    """tracemalloc peak of building one tickcast instance and feeding it every point.

    Untimed loops: the clock's own int objects would be counted otherwise.
    """
    segments = series.inputs[case.inputs]
    tracemalloc.start()
    try:
        update = case.tickcast().update
        if case.inputs == "bars":
            for segment in segments:
                for high, low, close in segment:
                    update(high, low, close)
        elif case.inputs == "trades":
            for segment in segments:
                for price, volume in segment:
                    update(price, volume)
        else:
            for segment in segments:
                for x in segment:
                    update(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def interleaved_best(
    contenders: Sequence[tuple[Callable[[], SegmentTimer], Segments]], repeat: int
) -> list[int]:
    """Total ns of each contender: the sum over segments of its fastest time of `repeat` runs.

    A contender is (make, segments): `make()` builds fresh instances for one run and
    returns a timer of one segment. Each run makes every contender afresh, then
    times segment i of each in turn before segment i + 1, so background load hits
    all of them alike. All contenders must have the same number of segments.
    """
    count = len(contenders[0][1])
    best = [[sys.maxsize] * count for _ in contenders]
    for _ in range(repeat):
        timers = [make() for make, _ in contenders]
        for i in range(count):
            for timer, (_, segments), fastest in zip(timers, contenders, best, strict=True):
                fastest[i] = min(fastest[i], timer(segments[i]))
    return [sum(fastest) for fastest in best]


def measure(case: Case, series: Series, repeat: int) -> Row:
    """ns per update for tickcast and talipp (paired segments), TA-Lib ns per point."""
    timer = case.timer
    tickcast, talipp = case.tickcast, case.talipp
    contenders: list[tuple[Callable[[], SegmentTimer], Segments]] = [
        (lambda: partial(timer, tickcast().update), series.inputs[case.inputs])
    ]
    if talipp is not None:
        contenders.append(
            (lambda: partial(_time_one_arg, talipp().add), series.inputs[case.talipp_inputs])
        )
    totals = interleaved_best(contenders, repeat)
    talib_ns = _best_batch(case.talib, series.arrays, repeat) if case.talib else None
    return Row(
        name=case.name,
        tickcast_ns=totals[0] / series.points,
        talipp_ns=totals[1] / series.points if talipp is not None else None,
        talib_ns=talib_ns / series.points if talib_ns is not None else None,
        tickcast_bytes=_peak_bytes(case, series),
    )


def cpu_model() -> str:
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
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per indicator (fastest of each segment kept)"
    )
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

    arguments = sys.argv[1:] if argv is None else argv
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"command: {' '.join(['python -m tickcast.bench.indicators', *arguments])}")
    print(f"cpu: {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"python: {platform.python_implementation()} {platform.python_version()}")
    print(
        f"points: {args.points:,}  repeat: {args.repeat} "
        f"(fastest of the runs kept per {SEGMENT:,}-update segment)\n"
    )

    rows = []
    for case in cases:
        rows.append(measure(case, series, args.repeat))
        print(f"  measured {case.name}", file=sys.stderr, flush=True)
    noop = Case("no-op", _Noop, "close")
    floor = measure(noop, series, args.repeat).tickcast_ns
    print(format_table(rows))
    print(f"\nfloor: a Python loop calling a no-op method costs {floor:,.0f} ns/update here.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
