"""`tickcast feed alpaca` with a slow Pub/Sub: the process publishes through a TCP
proxy that holds every chunk for a while before passing it to the emulator. The
connector's queue fills, it stops reading (backpressure) instead of buffering,
and every frame the fake sent reaches tickcast-raw once: none lost, none doubled,
in order per ordering key; SIGTERM still exits 0 after the flush."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tickcast.feeds.fakes import FakeAlpaca, Threaded, alpaca_trade
from tickcast.local.processes import free_port

pytestmark = pytest.mark.emulator

TICKCAST = str(Path(sys.executable).parent / "tickcast")
DELAY_S = 0.05  # per chunk, each way
FRAMES = 400


class SlowProxy:
    """127.0.0.1:<port> -> the emulator, each chunk held DELAY_S (an asyncio loop in a thread)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while chunk := await r.read(65536):
                    await asyncio.sleep(DELAY_S)
                    w.write(chunk)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            ur, uw = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(pipe(r, uw), pipe(ur, w))

        async def start() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, family=socket.AF_INET)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await server.serve_forever()

        self.loop.create_task(start())
        self.loop.run_forever()

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def test_a_slow_pubsub_loses_and_doubles_nothing(
    backends: Any, puller: Any, tmp_path: Path
) -> None:
    raw = puller("tickcast-raw")
    host, port = backends.env["PUBSUB_EMULATOR_HOST"].rsplit(":", 1)
    log = tmp_path / "feed.log"
    symbols = ("AAPL", "MSFT", "TSLA")
    frames = [
        orjson.dumps([alpaca_trade(symbols[i % 3], 100.0 + i, i, "2024-01-02T15:00:00Z")])
        for i in range(FRAMES)
    ]
    with SlowProxy((host, int(port))) as proxy, Threaded(FakeAlpaca, key="k", secret="s") as fake:
        env = {
            **os.environ,
            **backends.env,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{proxy.port}",
            "PORT": str(free_port()),
            "APCA_API_KEY_ID": "k",
            "APCA_API_SECRET_KEY": "s",
            "TICKCAST_FEED_URL": fake.url,
            "TICKCAST_FEED_SYMBOLS": ",".join(symbols),
            "TICKCAST_FEED_QUEUE_FRAMES": "50",  # small: the bound is reached
            "TICKCAST_FEED_MAX_IN_FLIGHT": "20",
            "TICKCAST_FEED_DRAIN_S": "8",
            "TICKCAST_LOG_LEVEL": "INFO",
        }
        proc = subprocess.Popen(
            [TICKCAST, "feed", "alpaca", "--host", "127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        try:
            fake.wait_subscribed(30)
            t0 = time.monotonic()
            fake.push(*frames)
            got = raw.pull(FRAMES, timeout_s=90)
            took = time.monotonic() - t0
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    time.sleep(0.5)
    got += raw.pull(1, timeout_s=1)  # nothing more than was sent
    data = [m.data for m in got]
    assert len(data) == FRAMES and set(data) == set(frames), (len(data), took)
    for key in {m.ordering_key for m in got}:
        seq = [m.data for m in got if m.ordering_key == key]
        assert seq == [f for f in frames if f in seq]
    lines = log.read_text()
    assert "queue full: reading paused" in lines  # backpressure, not an unbounded buffer
