"""Frames per second one feed connector publishes, against a local fake vendor.

Usage::

    python -m tickcast.bench.feed                      # in-memory publisher only
    PUBSUB_EMULATOR_HOST=127.0.0.1:8085 python -m tickcast.bench.feed   # and the emulator
    python -m tickcast.bench.feed --frames 50000 --symbols 8 --shards 16 --json

One `tickcast.feeds.connector.Connector` (the code `tickcast feed alpaca` runs)
holds a WebSocket to `tickcast.feeds.fakes.FakeAlpaca` on loopback, in the same
process and event loop. Once it has authenticated and subscribed, the fake sends
``--frames`` frames of one Alpaca trade each, over ``--symbols`` symbols, as fast
as the socket takes them; the clock stops when the connector has had every one
acknowledged by its publisher. Two publishers:

* **memory**: the reference. ``publish`` settles at once, in order per key, as
  the real client with message ordering would when nothing fails: what is left is
  the connector's own cost (WebSocket read, ordering key, queue, bookkeeping).
* **pubsub**: the real ``google.cloud.pubsub_v1.PublisherClient`` (batching and
  ordering as `tickcast feed` configures it) against the Pub/Sub emulator named by
  ``PUBSUB_EMULATOR_HOST``; the topic ``<prefix>raw`` is created if missing.
  Skipped without the emulator: the benchmark never publishes to a real project.

Exit status 0 when the benchmark ran.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from tickcast.cliargs import positive_int

TOPIC_NAME = "raw"


class MemoryClient:
    """publish/resume_publish of PublisherClient, settled at once (the reference)."""

    def __init__(self) -> None:
        self.published = 0

    def publish(
        self, topic: str, data: bytes, ordering_key: str = "", **attrs: Any
    ) -> concurrent.futures.Future[str]:
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.published += 1
        fut.set_result(str(self.published))
        return fut

    def resume_publish(self, topic: str, ordering_key: str) -> None:
        return None


def frames(n: int, symbols: int) -> list[bytes]:
    from tickcast.feeds.fakes import alpaca_trade

    t = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [
        orjson.dumps([alpaca_trade(f"S{i % symbols:03d}", 100.0 + i % 97, i, t)]) for i in range(n)
    ]


async def one_run(client: Any, topic: str, n: int, symbols: int, shards: int) -> dict[str, Any]:
    from tickcast.feeds.connector import Connector
    from tickcast.feeds.fakes import FakeAlpaca
    from tickcast.feeds.settings import FeedSettings

    fake = FakeAlpaca(key="bench", secret="bench")
    url = await fake.start()
    env = {
        "APCA_API_KEY_ID": "bench",
        "APCA_API_SECRET_KEY": "bench",
        "TICKCAST_FEED_URL": url,
        "TICKCAST_FEED_SYMBOLS": ",".join(f"S{i:03d}" for i in range(symbols)),
        "TICKCAST_FEED_SHARDS": str(shards),
        "TICKCAST_FEED_NAME": "bench",
    }
    connector = Connector(FeedSettings.from_env("alpaca", env), client, topic)
    task = asyncio.create_task(connector.run(host="127.0.0.1", install_signals=False))
    body = frames(n, symbols)
    try:
        await fake.wait_subscribed(30)
        before = connector.publisher.published
        t0 = time.perf_counter()
        fake.push(*body)
        while connector.publisher.published - before < n:
            if task.done():
                raise RuntimeError(f"the connector stopped with {task.result()}")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
    finally:
        connector.request_stop()
        await asyncio.wait_for(task, 30)
        await fake.stop()
    return {
        "frames": n,
        "seconds": round(elapsed, 3),
        "frames_per_s": round(n / elapsed),
        "bytes_per_frame": round(sum(map(len, body)) / n),
    }


def pubsub_target(prefix: str) -> tuple[Any, str] | None:
    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        return None
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    from tickcast import clients
    from tickcast.config import Settings

    s = Settings.from_env(os.environ)
    topic = f"projects/{s.project_id}/topics/{prefix}{TOPIC_NAME}"
    with contextlib.suppress(AlreadyExists):
        pubsub_v1.PublisherClient().create_topic(name=topic)
    return clients.publisher(s.publish_latency_ms), topic


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tickcast.bench.feed", description=__doc__.split("\n")[0]
    )
    p.add_argument("--frames", type=positive_int, default=20_000)
    p.add_argument("--symbols", type=positive_int, default=8)
    p.add_argument("--shards", type=positive_int, default=16)
    p.add_argument("--prefix", default=os.environ.get("TICKCAST_TOPIC_PREFIX", "tickcast-"))
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = p.parse_args(argv)

    from tickcast import log

    log.configure("WARNING")
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
        "frames": args.frames,
        "symbols": args.symbols,
        "shards": args.shards,
    }
    results["memory"] = asyncio.run(
        one_run(MemoryClient(), "projects/bench/topics/raw", args.frames, args.symbols, args.shards)
    )
    target = pubsub_target(args.prefix)
    if target is not None:
        client, topic = target
        try:
            results["pubsub"] = asyncio.run(
                one_run(client, topic, args.frames, args.symbols, args.shards)
            )
        finally:
            client.stop()
    if args.json:
        print(json.dumps(results))
        return 0
    print(
        f"one connector, fake Alpaca on loopback, {args.frames} one-trade frames, "
        f"{args.symbols} symbols over {args.shards} shards ({results['machine']})"
    )
    for name in ("memory", "pubsub"):
        r = results.get(name)
        if r is None:
            print(f"  {name:<7} skipped (no PUBSUB_EMULATOR_HOST)")
        else:
            print(
                f"  {name:<7} {r['frames_per_s']:>8,} frames/s  ({r['seconds']} s, {r['bytes_per_frame']} B/frame)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
