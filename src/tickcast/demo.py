"""`make demo`: real daily S&P 500 and NASDAQ Composite bars (from the `arch`
package) replayed as Alpaca trades through the local stack, one trading day per
bar, with predictions printed as a WebSocket client receives them.

`tickcast demo --feed alpaca --symbols AAPL,MSFT` (or `make demo
TICKCAST_DEMO_FEED=alpaca TICKCAST_DEMO_SYMBOLS=AAPL,MSFT`) runs the live
connector (`tickcast feed alpaca`) instead when the vendor's keys are in the
environment, and otherwise falls back to the replay; either way it says which."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tickcast.local.processes import Proc, free_port
from tickcast.local.stack import LocalStack, StackError
from tickcast.replay import OHLCV, Series, bar_messages, pace
from tickcast.tail import TailStats, describe, tail

BACKFILL_BARS = 40  # enough history for every indicator to warm up (MACD needs 34)
FEEDS = ("alpaca", "polygon", "yahoo")
# What each vendor's connector needs from the environment (docs/FEEDS.md).
KEYS: dict[str, tuple[str, ...]] = {
    "alpaca": ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"),
    "polygon": ("POLYGON_API_KEY",),
    "yahoo": (),
}
MAX_FEED_SYMBOLS = 50


@dataclass(frozen=True)
class Plan:
    """Where the demo's market data comes from, and the sentence that says so."""

    live: bool
    feed: str | None
    symbols: tuple[str, ...]
    message: str


def plan(feed: str | None, symbols: str | None, environ: Mapping[str, str]) -> Plan:
    """Validate --feed/--symbols; live when the feed's keys are set, else the replay."""
    from tickcast.schema import SYMBOL_RE, normalise_symbol

    replay = "the replayed real data (S&P 500 and NASDAQ Composite daily bars)"
    if feed is None:
        if symbols:
            raise StackError("--symbols needs --feed (alpaca, polygon or yahoo)")
        return Plan(False, None, (), f"Market data: {replay}.")
    if feed not in FEEDS:
        raise StackError(f"--feed must be one of {', '.join(FEEDS)}, not {feed!r}")
    names = [x.strip() for x in (symbols or "").split(",") if x.strip()]
    if not names:
        raise StackError("--feed needs --symbols, e.g. --symbols AAPL,MSFT")
    if len(names) > MAX_FEED_SYMBOLS:
        raise StackError(f"--symbols: at most {MAX_FEED_SYMBOLS} for the demo")
    bad = [x for x in names if not SYMBOL_RE.fullmatch(normalise_symbol(x))]
    if bad:
        raise StackError(f"--symbols: not a symbol: {', '.join(bad)}")
    chosen = tuple(dict.fromkeys(names))
    missing = [k for k in KEYS[feed] if not environ.get(k, "").strip()]
    if missing:
        return Plan(
            False,
            feed,
            chosen,
            f"Market data: {' and '.join(missing)} not set, so no live {feed} feed: "
            f"falling back to {replay}.",
        )
    return Plan(
        True,
        feed,
        chosen,
        f"Market data: LIVE from {feed} (`tickcast feed {feed}`) for {', '.join(chosen)}; "
        "prices move only while the market is open.",
    )


def real_series() -> list[Series]:
    from arch.data import nasdaq, sp500

    out = []
    for symbol, frame in (("SPX", sp500.load()), ("COMP", nasdaq.load())):
        rows = [
            OHLCV(float(r.Open), float(r.High), float(r.Low), float(r.Close), float(r.Volume))
            for r in frame.itertuples()
        ]
        out.append(Series(symbol, rows))
    return out


def watch(
    stack: LocalStack,
    symbols: list[str],
    stats: TailStats,
    done: Callable[[TailStats], bool],
    show: Callable[[dict[str, object]], None],
) -> None:
    """A WebSocket client of the local bridge, printing what arrives, until `done`."""

    async def client() -> None:
        task = asyncio.ensure_future(
            tail(stack.env()["TICKCAST_WS_URL"], symbols, stats=stats, stop=done, on_update=show)
        )
        while not task.done():
            if done(stats):
                task.cancel()
                break
            await asyncio.sleep(0.2)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(client())


def run_live(stack: LocalStack, duration_s: float | None, chosen: Plan) -> int:
    """The vendor's live stream through `tickcast feed` into the local stack."""
    from tickcast import log
    from tickcast.schema import normalise_symbol

    log.configure("WARNING")
    assert chosen.feed is not None
    print(
        f"\nDashboard: http://127.0.0.1:{stack.ports.bridge}/   WebSocket: "
        f"ws://127.0.0.1:{stack.ports.bridge}/ws   (channel `trades` shows the last trade live)",
        flush=True,
    )
    log_path = stack.state_dir / "logs" / f"feed-{chosen.feed}.log"
    connector = Proc(
        f"feed-{chosen.feed}",
        [
            str(Path(sys.executable).parent / "tickcast"),
            "feed",
            chosen.feed,
            "--symbols",
            ",".join(chosen.symbols),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
        ],
        log_path,
        env=stack.env(),
    )
    connector.start()
    stats = TailStats()
    deadline = time.monotonic() + duration_s if duration_s else None

    def done(_st: TailStats) -> bool:
        return not connector.alive() or (deadline is not None and time.monotonic() > deadline)

    try:
        watch(
            stack,
            [normalise_symbol(x) for x in chosen.symbols],
            stats,
            done,
            lambda msg: print(describe(msg), flush=True),
        )
    finally:
        code = connector.popen.poll() if connector.popen else None
        connector.stop()
    print(f"\n{stats.updates} updates received over WebSocket, {stats.ready} with a prediction.")
    if code is not None:
        print(f"FAILED: the {chosen.feed} connector exited with {code}; log {log_path}:")
        print(connector.log_tail())
        return 1
    return 0


def synthetic_series(n: int, length: int, seed: int = 7) -> list[Series]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, length)))
        opens = np.concatenate([[100.0], close[:-1]])
        spread = np.abs(rng.normal(0, 0.004, length)) * close
        rows = [
            OHLCV(
                float(o),
                float(max(o, c) + s),
                float(min(o, c) - s),
                float(c),
                float(rng.integers(1_000, 50_000)),
            )
            for o, c, s in zip(opens, close, spread, strict=True)
        ]
        out.append(Series(f"SYN{i + 1}", rows))
    return out


def run(
    stack: LocalStack, duration_s: float | None, synthetic: int = 0, chosen: Plan | None = None
) -> int:
    os.environ.update(stack.env())
    if chosen is not None and chosen.live:
        return run_live(stack, duration_s, chosen)
    from tickcast import log
    from tickcast.config import Settings
    from tickcast.pubsub import publish

    log.configure("WARNING")  # the terminal is for predictions; the services log to .tickcast/logs

    s = Settings.from_env(stack.env())
    series = real_series()
    series += synthetic_series(synthetic, len(series[0].rows))
    symbols = [x.symbol for x in series]
    print(
        f"\nDashboard: http://127.0.0.1:{stack.ports.bridge}/   WebSocket: ws://127.0.0.1:{stack.ports.bridge}/ws"
    )
    print(
        f"Replaying {', '.join(symbols)}: one real trading day per {stack.bar_seconds}s bar "
        f"({BACKFILL_BARS} bars of backfill first, for indicator warm-up)\n",
        flush=True,
    )

    stop = threading.Event()
    deadline = time.monotonic() + duration_s if duration_s else None

    def feed() -> None:
        msgs = bar_messages(series, stack.bar_seconds, backfill=BACKFILL_BARS)
        pace(
            msgs,
            lambda body: publish(s, "raw", [(body, "demo-feed", {"format": "alpaca"})]),
            stop.is_set,
        )

    feeder = threading.Thread(target=feed, name="replay", daemon=True)
    feeder.start()
    stats = TailStats()
    live_from_ms = (time.time_ns() // 1_000_000) + 1000  # bars after the backfill
    live_latency: list[float] = []

    def show(msg: dict[str, object]) -> None:
        print(describe(msg), flush=True)
        doc = msg.get("data") or {}
        event = (doc.get("trace") or {}).get("event") if isinstance(doc, dict) else None
        seq = msg.get("seq")
        if (
            event
            and isinstance(seq, int)
            and seq > live_from_ms
            and msg.get("type") == "prediction"
        ):
            live_latency.append((time.time_ns() - int(event)) / 1e6)

    def done(_st: TailStats) -> bool:
        return stop.is_set() or (deadline is not None and time.monotonic() > deadline)

    try:
        watch(stack, symbols, stats, done, show)
    finally:
        stop.set()
        feeder.join(timeout=5)
    lat = sorted(live_latency)
    print(f"\n{stats.updates} updates received over WebSocket, {stats.ready} with a prediction.")
    if lat:
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
        print(
            f"Live bars, closing trade's event time -> WebSocket client: p50 {q[49]:.0f} ms, "
            f"p95 {q[94]:.0f} ms, max {lat[-1]:.0f} ms (n={len(lat)}; bars closed by the clock carry no trade time)"
        )
    if stats.ready == 0:
        print("FAILED: no prediction reached the WebSocket client")
        return 1
    return 0
