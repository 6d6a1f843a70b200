"""Feed connectors on the Pub/Sub emulator: `tickcast feed` as a process against a local
fake vendor (tickcast.feeds.fakes), frames pulled back from tickcast-raw byte for byte
with their `format` attribute and ordering key; SIGTERM flushes and exits 0; bad keys
exit 3 after one attempt. Loopback only; each test stops itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tickcast.feeds.connector import Connector
from tickcast.feeds.fakes import (
    FakeAlpaca,
    FakePolygon,
    FakeVendor,
    FakeYahoo,
    Threaded,
    alpaca_trade,
    polygon_trade,
    yahoo_frame,
)
from tickcast.feeds.protocol import ordering_key
from tickcast.feeds.settings import FeedSettings
from tickcast.local.processes import free_port

pytestmark = pytest.mark.emulator

TICKCAST = str(Path(sys.executable).parent / "tickcast")
SYMBOLS = ("AAPL", "MSFT", "TSLA")


def alpaca_frames(n: int, start: int = 0) -> list[bytes]:
    out = []
    for i in range(start, start + n):
        trades = [alpaca_trade(SYMBOLS[i % 3], 100.0 + i, i, "2024-01-02T15:00:00Z")]
        if i % 5 == 0:  # now and then a frame with two symbols, as Alpaca batches them
            trades.append(
                alpaca_trade(SYMBOLS[(i + 1) % 3], 200.0 + i, 10_000 + i, "2024-01-02T15:00:00Z")
            )
        out.append(orjson.dumps(trades))
    return out


def expected_key(name: str, data: bytes, shards: int) -> str:
    return ordering_key(name, [m["S"] for m in orjson.loads(data)], shards)[0]


def log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return out


def wait_for(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def feed_process(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TICKCAST, "feed", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def test_feed_process_publishes_to_raw_and_flushes_on_sigterm(
    backends: Any, puller: Any, tmp_path: Path
) -> None:
    raw = puller("tickcast-raw")
    log = tmp_path / "feed.log"
    with Threaded(FakeAlpaca, key="kid", secret="sec") as fake:
        env = {
            **os.environ,
            **backends.env,
            "PORT": str(free_port()),  # tickcast.config.Settings refuses PORT=0
            "APCA_API_KEY_ID": "kid",
            "APCA_API_SECRET_KEY": "sec",
            "TICKCAST_FEED_URL": fake.url,
            "TICKCAST_FEED_SYMBOLS": ",".join(SYMBOLS),
            "TICKCAST_FEED_SHARDS": "8",
            "TICKCAST_FEED_NAME": "alpaca-test",
            "TICKCAST_LOG_LEVEL": "INFO",
        }
        proc = feed_process(env, log, "alpaca")
        try:
            fake.wait_subscribed(30)
            first = alpaca_frames(20)
            fake.push(*first)
            got = raw.pull(20, timeout_s=30)
            assert sorted(m.data for m in got) == sorted(first)  # byte for byte
            for m in got:
                assert dict(m.attributes) == {"format": "alpaca", "feed": "alpaca-test"}
                assert m.ordering_key == expected_key("alpaca-test", m.data, 8)
            # Each key's frames arrive in the order they were received.
            for key in {m.ordering_key for m in got}:
                seq = [m.data for m in got if m.ordering_key == key]
                assert seq == [f for f in first if f in seq]

            # SIGTERM while frames are still arriving: whatever was received is published.
            more = alpaca_frames(200, start=20)
            fake.push(*more)
            time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    lines = log_lines(log)
    stopped = [x for x in lines if x.get("message") == "stopped"]
    assert stopped, lines[-5:]
    published = stopped[-1]["published"]
    assert published >= 20
    rest = raw.pull(published - 20, timeout_s=30)
    time.sleep(0.5)
    rest += raw.pull(1, timeout_s=1)  # nothing beyond what the connector counted
    assert len(rest) == published - 20
    assert len({m.data for m in rest}) == len(rest)
    assert {m.data for m in rest} <= set(more)
    assert not [x for x in lines if x.get("severity") in ("ERROR", "CRITICAL")]


def test_feed_process_with_bad_keys_exits_3_after_one_attempt(
    backends: Any, tmp_path: Path
) -> None:
    log = tmp_path / "feed.log"
    with Threaded(FakeAlpaca, key="kid", secret="sec") as fake:
        env = {
            **os.environ,
            **backends.env,
            "PORT": str(free_port()),  # tickcast.config.Settings refuses PORT=0
            "APCA_API_KEY_ID": "kid",
            "APCA_API_SECRET_KEY": "wrong",
            "TICKCAST_FEED_URL": fake.url,
            "TICKCAST_FEED_SYMBOLS": "AAPL",
            "TICKCAST_FEED_BACKOFF_MIN_S": "0.01",
        }
        proc = feed_process(env, log, "alpaca")
        try:
            assert proc.wait(30) == 3
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        assert fake.fake is not None and fake.fake.connections == 1
    (line,) = [x for x in log_lines(log) if x.get("message") == "feed stopped: the vendor refused"]
    assert line["severity"] == "CRITICAL" and line["reason"] == "alpaca_402"
    assert "APCA_API_SECRET_KEY" in line["detail"] and "wrong" not in log.read_text()


@pytest.mark.parametrize("vendor", ["polygon", "yahoo"])
def test_polygon_and_yahoo_through_the_real_publisher(
    vendor: str, backends: Any, puller: Any
) -> None:
    from google.cloud import pubsub_v1

    raw = puller("tickcast-raw")
    client = pubsub_v1.PublisherClient(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )

    async def main() -> list[bytes]:
        fake: FakeVendor = FakePolygon("pk") if vendor == "polygon" else FakeYahoo()
        url = await fake.start()
        cfg = FeedSettings.from_env(
            vendor,  # type: ignore[arg-type]
            {
                "TICKCAST_FEED_URL": url,
                "TICKCAST_FEED_SYMBOLS": ",".join(SYMBOLS),
                "POLYGON_API_KEY": "pk",
                "PORT": "0",
            },
        )
        topic = f"projects/{backends.project}/topics/tickcast-raw"
        c = Connector(cfg, client, topic)
        if vendor == "polygon":
            frames = [
                orjson.dumps([polygon_trade(SYMBOLS[i % 3], 10.0 + i, i, 1_700_000_000_000 + i)])
                for i in range(9)
            ]
        else:
            frames = [
                yahoo_frame(SYMBOLS[i % 3], 10.0 + i, 1_700_000_000_000 + i) for i in range(9)
            ]
        task = asyncio.create_task(c.run(host="127.0.0.1", install_signals=False))
        await fake.wait_subscribed(10)
        fake.push(*frames)
        deadline = time.monotonic() + 20
        while c.publisher.published < len(frames) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        c.request_stop()
        assert await asyncio.wait_for(task, 20) == 0
        await fake.stop()
        return frames

    try:
        frames = asyncio.run(main())
    finally:
        client.stop()
    got = raw.pull(len(frames), timeout_s=30)
    assert sorted(m.data for m in got) == sorted(frames)
    for m in got:
        assert m.attributes["format"] == vendor
        sym = SYMBOLS[frames.index(m.data) % 3]
        assert m.ordering_key == ordering_key(vendor, [sym], 16)[0]
