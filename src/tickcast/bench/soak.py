"""`tickcast bench soak`: the real pipeline at a steady rate for minutes, with the
resident memory of every process sampled; memory must not grow beyond a bound
stated before the run, and every tick must be counted into a bar.

The bound: after `--warmup-s`, the median RSS of each process over the last
minute exceeds that over the first minute by at most `--bound-mib`. Judged: the
tickcast services and redis-server; the emulators are listed but not judged,
since they keep every document and message (their growth is the data). Growth
below the bound is noise (allocator arenas, gRPC buffers, Python's free lists); a
leak of even 1 KiB per message crosses it within minutes at these rates.
Everything targets 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import orjson

from tickcast.bench import e2e
from tickcast.bench.rss import Growth, Sampler, growth

JUDGED = ("ingest", "features", "predict", "bridge", "redis")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tickcast bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the steady load")
    p.add_argument("--rate", type=float, default=100.0, help="ticks per second")
    p.add_argument("--symbols", type=int, default=20)
    p.add_argument("--window-ms", type=float, default=100.0, help="one raw message per window")
    p.add_argument("--grace-ms", type=int, default=2000, help="TICKCAST_BAR_GRACE_MS")
    p.add_argument("--warmup-s", type=float, default=60.0, help="not judged: caches fill")
    p.add_argument("--bound-mib", type=float, default=32.0, help="allowed RSS growth per process")
    p.add_argument("--interval-s", type=float, default=5.0, help="RSS sampling period")
    p.add_argument("--json", type=Path, help="write the figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.minutes * 60 <= args.warmup_s + 2 * args.interval_s:
        p.error("--minutes must leave time after --warmup-s to judge growth")
    load = e2e.parse_args(
        e2e.build_parser(),
        [
            "--only", "real", "--check-volume", "--bar-seconds", "1",
            "--duration", str(args.minutes * 60), "--rate", str(args.rate),
            "--symbols", str(args.symbols), "--window-ms", str(args.window_ms),
            "--grace-ms", str(args.grace_ms),
        ],
    )  # fmt: skip
    sampler = Sampler(args.interval_s)
    print(
        f"soak: {args.rate:.0f} ticks/s over {args.symbols} symbols for {args.minutes:g} min; "
        f"bound stated in advance: RSS growth <= {args.bound_mib:g} MiB per process "
        f"after {args.warmup_s:g} s of warm-up"
    )
    with (
        tempfile.TemporaryDirectory(prefix="tickcast-soak-") as tmp,
        e2e.private_backends(Path(tmp)) as base,
    ):
        sampler.watch(base.pids())

        def started(stack: Any) -> None:
            sampler.watch(stack.pids())
            sampler.start()

        try:
            run = e2e.measure("real", base.ports, load, {}, Path(tmp), on_started=started)
        finally:
            sampler.stop()
    t0, t1 = run.fed_from + args.warmup_s, run.fed_until
    rows = [g for name, xs in sorted(sampler.samples.items()) if (g := growth(xs, name, t0, t1))]
    result = e2e.report([run], load)
    print(
        f"\n{'process':<12}{'first min MiB':>15}{'last min MiB':>14}{'growth':>9}{'peak':>9}  bound"
    )
    for g in rows:
        ok = (
            "not judged (storage)"
            if g.name not in JUDGED
            else "ok"
            if g.growth_mib <= args.bound_mib
            else "EXCEEDED"
        )
        print(
            f"{g.name:<12}{g.start_mib:>15.1f}{g.end_mib:>14.1f}{g.growth_mib:>9.1f}"
            f"{g.peak_mib:>9.1f}  {ok}"
        )
    over = [g.name for g in rows if g.name in JUDGED and g.growth_mib > args.bound_mib]
    lost = result["runs"]["real"]["volume_check"] != "ok"
    if args.json:
        doc = {**result, "rss": [_row(g) for g in rows], "bound_mib": args.bound_mib}
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str))
    print(
        f"\nsoak: {'PASS' if not over and not lost and rows else 'FAIL'}"
        + (f"; memory grew past the bound: {', '.join(over)}" if over else "")
        + ("; ticks were lost" if lost else "")
    )
    return 0 if rows and not over and not lost else 1


def _row(g: Growth) -> dict[str, Any]:
    return {
        "process": g.name,
        "first_min_mib": round(g.start_mib, 1),
        "last_min_mib": round(g.end_mib, 1),
        "growth_mib": round(g.growth_mib, 1),
        "peak_mib": round(g.peak_mib, 1),
        "samples": g.samples,
    }


if __name__ == "__main__":
    raise SystemExit(main())
