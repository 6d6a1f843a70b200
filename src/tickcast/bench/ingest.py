"""Ingest per tick: one raw Alpaca message through the stage, beside the null ingest.

Usage::

    python -m tickcast.bench.ingest                       # 12,800 trades over 4 symbols
    python -m tickcast.bench.ingest --ticks 3200 --symbols 20 --messages 20 --json out.json

Each raw message is ``--ticks`` Alpaca stream trades over ``--symbols`` symbols, one
second of event time, as `tickcast bench e2e`'s feed publishes them. Three variants
take the same messages in turns (interleaved, so a slow spell of the machine hits
all three alike):

* **null**: the null pipeline's ingest (`tickcast.bench.null_main.forward_ticks`):
  JSON in, one ticks message per symbol out; no validation, dedupe or Redis. The
  reference: what any ingest costs;
* **ingest, default gc**: `tickcast.ingest.stage.handle` as it runs (parse and
  validate, filter, dedupe claims in Redis, ticks messages serialised), publishing
  captured instead of sent, on a private redis-server; CPython's collector defaults;
* **ingest, tuned gc**: the same with `tickcast.gctune` as a function instance
  applies it at its first message (heap frozen, young threshold 50,000).

Prints the median and p90 microseconds per tick of each and the ratio to null.
Exit status 0 when the benchmark ran.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from tickcast import gctune
from tickcast.cliargs import positive_int
from tickcast.pubsub import PushedMessage
from tickcast.replay import rfc3339_ns

Variant = Callable[[PushedMessage], object]


def raw_message(k: int, ticks: int, symbols: int) -> PushedMessage:
    """The k-th raw message: `ticks` trades 1 ms...1 s apart, ids unique across messages."""
    now = time.time_ns()
    trades = [
        {
            "T": "t",
            "S": f"B{i % symbols:03d}",
            "i": k * ticks + i + 1,
            "x": "V",
            "p": round(100 + random.random(), 4),
            "s": float(random.randint(1, 500)),
            "c": ["@"],
            "t": rfc3339_ns(now - 10**9 + i * 10**9 // ticks),
            "z": "C",
        }
        for i in range(ticks)
    ]
    return PushedMessage(orjson.dumps(trades), {"format": "alpaca"}, f"bench-{k}", now)


def _collector(tuned: bool) -> None:
    if tuned:  # as tickcast.gctune applies it (no gc.collect: the runs are interleaved)
        gc.freeze()
        gc.set_threshold(gctune.GEN0_THRESHOLD, 10, 10)
    else:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)


def run(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    os.environ["TICKCAST_REDIS_URL"] = redis_url
    from tickcast.bench.null_main import forward_ticks
    from tickcast.config import Settings
    from tickcast.ingest import stage

    s = Settings.from_env(dict(os.environ))
    published: list[int] = []

    def captured(_s: Settings, _topic: str, out: list[tuple[bytes, str, dict[str, str]]]) -> None:
        published.append(len(out))

    stage.publish = captured  # type: ignore[attr-defined,assignment]  # captured, not sent

    variants: dict[str, tuple[Variant, bool]] = {
        "null": (forward_ticks, True),
        "ingest, default gc": (lambda m: stage.handle(m, s), False),
        "ingest, tuned gc": (lambda m: stage.handle(m, s), True),
    }
    n = 0
    for fn, tuned in variants.values():  # warm-up: imports, clients, scripts, caches
        _collector(tuned)
        fn(raw_message(n, args.ticks, args.symbols))
        n += 1
    us: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.messages):
        for name, (fn, tuned) in variants.items():
            msg = raw_message(n, args.ticks, args.symbols)
            n += 1
            _collector(tuned)
            t0 = time.perf_counter()
            fn(msg)
            us[name].append((time.perf_counter() - t0) * 1e6 / args.ticks)
    _collector(False)
    null = statistics.median(us["null"])
    rows = [
        {
            "variant": name,
            "median_us_per_tick": statistics.median(v),
            "p90_us_per_tick": statistics.quantiles(v, n=10)[-1] if len(v) > 1 else v[0],
            "ticks_per_s": 1e6 / statistics.median(v),
            "x_null": statistics.median(v) / null,
        }
        for name, v in us.items()
    ]
    return {"rows": rows, "published_messages": sum(published)}


def _print(figures: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"ingest: {args.messages} raw messages of {args.ticks:,} Alpaca trades over "
        f"{args.symbols} symbols each, interleaved; publishing captured, Redis on loopback\n"
    )
    print(f"{'variant':<22}{'median us/tick':>16}{'p90':>10}{'ticks/s':>12}{'x null':>9}")
    for r in figures["rows"]:
        print(
            f"{r['variant']:<22}{r['median_us_per_tick']:>16.2f}{r['p90_us_per_tick']:>10.2f}"
            f"{r['ticks_per_s']:>12,.0f}{r['x_null']:>9.2f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tickcast bench ingest", description=__doc__.split("\n")[0])
    p.add_argument("--ticks", type=positive_int, default=12_800, help="trades per raw message")
    p.add_argument("--symbols", type=positive_int, default=4)
    p.add_argument("--messages", type=positive_int, default=12, help="per variant")
    p.add_argument("--redis-url", help="a Redis database nothing else uses (default: private)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    random.seed(7)
    if args.redis_url:
        figures = run(args, args.redis_url)
    else:
        from tickcast.local.stack import private_redis

        with private_redis("tickcast-bench-ingest-") as port:
            figures = run(args, f"redis://127.0.0.1:{port}/0")
    _print(figures, args)
    if args.json:
        figures["command"] = "python -m tickcast.bench.ingest " + " ".join(argv or sys.argv[1:])
        figures["machine"] = platform.platform()
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
