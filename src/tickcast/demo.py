"""`make demo`: real daily S&P 500 and NASDAQ Composite bars (from the `arch`
package) replayed as Alpaca trades through the local stack, one trading day per
bar, with predictions printed as a WebSocket client receives them."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time

import numpy as np

from tickcast.local.stack import LocalStack
from tickcast.replay import OHLCV, Series, bar_messages, pace
from tickcast.tail import TailStats, describe, tail

BACKFILL_BARS = 40  # enough history for every indicator to warm up (MACD needs 34)


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


def run(stack: LocalStack, duration_s: float | None, synthetic: int = 0) -> int:
    import os

    os.environ.update(stack.env())
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

    try:
        asyncio.run(client())
    except KeyboardInterrupt:
        pass
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
