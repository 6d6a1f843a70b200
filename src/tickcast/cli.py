"""The `tickcast` command. Each subcommand lives next to the code it drives."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tickcast.errors import TickcastError


def _replay(args: argparse.Namespace) -> int:
    from tickcast import replay
    from tickcast.config import Settings
    from tickcast.pubsub import publish

    s = Settings.from_env(os.environ)
    path = Path(args.file)
    if not path.is_file():
        raise TickcastError(f"{path}: no such file")
    kind = (
        args.format
        if args.format != "auto"
        else ("csv" if path.suffix.lower() == ".csv" else "ndjson")
    )
    attrs = {"format": args.vendor} if args.vendor else {}
    if kind == "csv":
        series = replay.read_csv(path, args.symbol)
        attrs = {"format": "alpaca"}
        msgs = replay.bar_messages(
            series, args.interval or s.bar_seconds, backfill=args.backfill, limit=args.limit
        )
    else:
        msgs = replay.ndjson_messages(path, args.rate)
    sent = replay.pace(msgs, lambda body: publish(s, "raw", [(body, "replay", attrs)]))
    print(f"published {sent} messages to {s.topic('raw')}")
    return 0


def _tail(args: argparse.Namespace) -> int:
    import asyncio

    from tickcast import tail
    from tickcast.bridge.reconnect import follow
    from tickcast.schema import SYMBOL_RE, normalise_symbol

    # The symbols as ingest names them (schema.normalise_symbol): `tail btc/usd` and
    # `tail X:BTCUSD` follow BTC-USD, as the feeds publish it.
    args.symbols = [normalise_symbol(s) for s in args.symbols]
    bad = [s for s in args.symbols if not SYMBOL_RE.fullmatch(s)]
    if bad:
        raise TickcastError(f"invalid symbol(s): {', '.join(bad)}")
    url = args.url or os.environ.get("TICKCAST_WS_URL", "ws://127.0.0.1:8080/ws")
    seen = 0

    def show(msg: dict[str, object]) -> None:
        nonlocal seen
        seen += 1
        print(tail.describe(msg), flush=True)

    # Reconnects with `since` after a drop (a bridge restart, Cloud Run's request
    # timeout), so each update prints once and none is missed.
    asyncio.run(
        follow(
            url,
            args.symbols,
            show,
            channel=args.channel,
            token=args.token or os.environ.get("TICKCAST_TOKEN"),
            stop=lambda: args.count is not None and seen >= args.count,
        )
    )
    return 0


# suite -> module; `all` runs every other one and regenerates docs/BENCHMARKS.md.
BENCH_SUITES = {
    "all": "tickcast.bench.report",
    "features": "tickcast.bench.features",
    "indicators": "tickcast.bench.indicators",
    "predict": "tickcast.bench.predict",
    "ingest": "tickcast.bench.ingest",
    "dedupe": "tickcast.bench.dedupe",
    "bridge": "tickcast.bench.bridge",
    "e2e": "tickcast.bench.e2e",
    "floor": "tickcast.bench.floor",
    "soak": "tickcast.bench.soak",
    "feed": "tickcast.bench.feed",
}


def _bench(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(BENCH_SUITES[args.suite]).main(args.rest))


def _config(args: argparse.Namespace) -> int:
    from tickcast.config import Settings

    if args.markdown:
        print(Settings.markdown_table())
    else:
        print(Settings.from_env(os.environ).model_dump_json(indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from tickcast.backfill import cli as backfill_cli
    from tickcast.bridge import keys_cli
    from tickcast.deploy import cost, stage
    from tickcast.feeds import cli as feeds_cli
    from tickcast.local import cli as local_cli
    from tickcast.ops import deadletter as deadletter_cli
    from tickcast.predict import cli as predict_cli

    parser = argparse.ArgumentParser(
        prog="tickcast", description="Real-time market indicators and predictions."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    local_cli.register(sub)
    stage.register(sub)
    cost.register(sub)
    predict_cli.register(sub)
    keys_cli.register(sub)
    backfill_cli.register(sub)
    feeds_cli.register(sub)
    deadletter_cli.register(sub)

    rp = sub.add_parser("replay", help="publish a feed file to the raw topic")
    rp.add_argument("file", help="NDJSON of vendor messages, or CSV of OHLCV bars")
    rp.add_argument("--format", choices=("auto", "ndjson", "csv"), default="auto")
    rp.add_argument(
        "--vendor",
        choices=("alpaca", "polygon", "yahoo", "tickcast"),
        help="NDJSON: the `format` attribute to set",
    )
    rp.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="NDJSON: messages per second (0 = as fast as possible)",
    )
    rp.add_argument("--symbol", help="CSV: symbol when the file has no symbol column")
    rp.add_argument(
        "--interval",
        type=float,
        default=None,
        help="CSV: seconds per row (default TICKCAST_BAR_SECONDS)",
    )
    rp.add_argument(
        "--backfill",
        type=int,
        default=0,
        help="CSV: stamp the first N rows into the bars just past",
    )
    rp.add_argument("--limit", type=int, default=None, help="CSV: replay at most N rows")
    rp.set_defaults(func=_replay)

    tp = sub.add_parser("tail", help="print updates from the bridge as they arrive")
    tp.add_argument("symbols", nargs="+", metavar="SYMBOL")
    tp.add_argument("--channel", choices=("predictions", "bars", "alerts"), default="predictions")
    tp.add_argument(
        "--url", help="bridge WebSocket URL (default $TICKCAST_WS_URL or ws://127.0.0.1:8080/ws)"
    )
    tp.add_argument("--token", help="API key or JWT (default $TICKCAST_TOKEN)")
    tp.add_argument("--count", type=int, default=None, help="exit after N updates")
    tp.set_defaults(func=_tail)

    bp = sub.add_parser("bench", help="benchmarks that print figures beside a reference")
    bp.add_argument("suite", choices=BENCH_SUITES)
    bp.add_argument("rest", nargs=argparse.REMAINDER, help="options of the suite (--help for them)")
    bp.set_defaults(func=_bench)

    cp = sub.add_parser("config", help="print the effective settings")
    cp.add_argument("--markdown", action="store_true", help="the README's settings table")
    cp.set_defaults(func=_config)
    return parser


def _check_numbers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("rate", "interval", "backfill", "limit", "count"):
        value = getattr(args, name, None)
        if value is not None and value < 0:
            parser.error(f"--{name} must not be negative")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_numbers(parser, args)
    try:
        return int(args.func(args))
    except TickcastError as exc:
        print(f"tickcast: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
