"""`tickcast backfill SOURCE...`: warm feature state from local files or Polygon flat files."""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tickcast.backfill import polygon_flat, sources
from tickcast.backfill.sources import BackfillError
from tickcast.backfill.warm import Warmed, Warmer, commit, existing
from tickcast.cliargs import positive_int
from tickcast.config import Settings
from tickcast.schema import Tick, normalise_symbol


def _day(text: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}")
    return text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "backfill",
        help="warm feature state in Redis from history before going live",
        description="Fold history into each symbol's feature state (TICKCAST_REDIS_URL, "
        "TICKCAST_BAR_SECONDS) so the first live bar has ready indicators. Publishes nothing. "
        "Exit 0 when every symbol is ready, 1 when some need more history, 2 on bad input.",
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a CSV of OHLCV bars, an NDJSON of vendor messages, or s3://bucket/prefix "
        "of Polygon flat files (day files, oldest first)",
    )
    p.add_argument(
        "--format",
        choices=("auto", "csv", "ndjson"),
        default="auto",
        help="local files: by extension when auto",
    )
    p.add_argument(
        "--vendor",
        choices=("alpaca", "polygon", "yahoo", "tickcast"),
        help="NDJSON: the vendor format (detected when omitted)",
    )
    p.add_argument("--symbol", help="CSV: the symbol when the file has no symbol column")
    p.add_argument(
        "--source-bar-seconds",
        type=positive_int,
        default=None,
        help="CSV: length of the file's bars (default: smallest gap between rows)",
    )
    p.add_argument("--symbols", help="comma-separated symbols to keep (default: all)")
    p.add_argument("--from", dest="start", type=_day, help="S3: first day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", type=_day, help="S3: last day, YYYY-MM-DD")
    p.add_argument(
        "--endpoint-url",
        default=os.environ.get("TICKCAST_S3_ENDPOINT"),
        help="S3 endpoint (Polygon: https://files.polygon.io; "
        "default $TICKCAST_S3_ENDPOINT or AWS)",
    )
    p.add_argument(
        "--replace", action="store_true", help="overwrite symbols that already have feature state"
    )
    p.add_argument("--dry-run", action="store_true", help="compute and report; write nothing")
    p.set_defaults(func=run)


def _ticks(
    args: argparse.Namespace, keep: frozenset[str] | None, rejected: Counter[str]
) -> Iterator[tuple[str, Tick]]:
    for src in args.sources:
        if src.startswith("s3://"):
            s3 = polygon_flat.s3_client(args.endpoint_url)
            where = polygon_flat.S3Source.parse(src)
            for key in polygon_flat.day_keys(s3, where, args.start, args.end):
                yield from polygon_flat.read_day(s3, where.bucket, key, keep, rejected)
            continue
        path = Path(src)
        if not path.is_file():
            raise BackfillError(f"{src}: no such file")
        fmt = args.format
        if fmt == "auto":
            fmt = "csv" if path.suffix.lower() == ".csv" else "ndjson"
        rows = (
            sources.read_csv(path, args.symbol, args.source_bar_seconds, rejected)
            if fmt == "csv"
            else sources.read_ndjson(path, args.vendor, rejected)
        )
        for sym, tick in rows:
            if keep is None or normalise_symbol(sym) in keep:
                yield sym, tick


def _ms(ms: int | None) -> str:
    return (
        "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    )


def _report(summary: dict[str, Warmed], rejected: Counter[str], written: bool) -> None:
    print(
        f"{'symbol':<10} {'ticks':>9} {'bars':>7}  {'first bar (UTC)':<19}  "
        f"{'history ends (UTC)':<19}  ready"
    )
    for w in sorted(summary.values(), key=lambda w: w.symbol):
        state = "yes" if w.ready else f"no ({w.reason})"
        print(
            f"{w.symbol:<10} {w.ticks:>9} {w.bars:>7}  {_ms(w.first_bar_ms):<19}  "
            f"{_ms(w.last_bar_end_ms):<19}  {state}"
        )
    if rejected:
        print("not folded in: " + ", ".join(f"{r} {n}" for r, n in sorted(rejected.items())))
    print("state written" if written else "dry run: nothing written")


def run(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    try:
        return _run(args)
    except RedisError as exc:
        raise BackfillError(f"redis ({Settings.from_env(os.environ).redis_url}): {exc}") from None


def _run(args: argparse.Namespace) -> int:
    s = Settings.from_env(os.environ)
    keep = (
        frozenset(normalise_symbol(x) for x in args.symbols.split(",") if x.strip())
        if args.symbols
        else None
    )
    store = redis = None
    if not args.dry_run:
        from tickcast import clients
        from tickcast.features.store import StateStore

        redis = clients.redis_client(s.redis_url)
        store = StateStore(redis, s.state_ttl_s)
        if keep and not args.replace and (have := existing(redis, sorted(keep), s.bar_seconds)):
            raise BackfillError(f"feature state exists for {', '.join(have)}; pass --replace")
    warmer = Warmer(s)
    for sym, tick in _ticks(args, keep, warmer.rejected):
        warmer.add(sym, tick)
    summary = warmer.finish()
    if not summary:
        raise BackfillError(
            "no ticks or bars in the sources" + (f" for {args.symbols}" if keep else "")
        )
    if store is not None:
        if not args.replace and (have := existing(redis, sorted(summary), s.bar_seconds)):
            raise BackfillError(f"feature state exists for {', '.join(have)}; pass --replace")
        commit(s, store, warmer.records, args.replace, int(time.time() * 1000))
    _report(summary, warmer.rejected, store is not None)
    unready = [w.symbol for w in summary.values() if not w.ready]
    if unready:
        print(f"tickcast: not enough history to be ready: {', '.join(sorted(unready))}")
        return 1
    return 0
