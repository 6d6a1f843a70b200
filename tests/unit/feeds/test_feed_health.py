"""/healthz, /readyz and /metrics of a running connector, and the stale-feed condition."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import orjson
import pytest
from feedkit import TOPIC, MemoryClient, Running, settings, until
from prometheus_client.parser import text_string_to_metric_families

from tickcast.feeds.connector import Connector
from tickcast.feeds.fakes import FakeAlpaca, alpaca_trade
from tickcast.ingest.filters import Session


def samples(text: str) -> dict[str, float]:
    """`name{reason=...}` -> value, the feed label dropped."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            extra = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "feed")
            out[f"{s.name}{{{extra}}}" if extra else s.name] = s.value
    return out


@pytest.fixture
def stale_logs() -> Iterator[list[logging.LogRecord]]:
    got: list[logging.LogRecord] = []

    class H(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    h = H()
    logger = logging.getLogger("tickcast.feeds")
    logger.addHandler(h)
    logger.setLevel(logging.INFO)
    yield got
    logger.removeHandler(h)
    logger.setLevel(logging.NOTSET)


def frame(i: int) -> bytes:
    return orjson.dumps([alpaca_trade("AAPL", 100.0 + i, i, "2024-01-02T15:00:00Z")])


def test_readyz_and_metrics_follow_the_connection() -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        fake.ack_subscribe = False  # first connection: connected, never subscribed
        cfg = settings("alpaca", await fake.start(), handshake_timeout_s=0.5, backoff_min_s=0.01)
        c = Connector(cfg, MemoryClient(), TOPIC)
        async with Running(c) as r:
            await until(lambda: c.connected, what="connected")
            ready = await r.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["connected"] is True and ready.json()["subscribed"] is False
            assert (await r.get("/healthz")).json() == {"status": "ok"}
            fake.ack_subscribe = True
            await until(lambda: c.subscribed, what="subscribed")
            fake.push(frame(1), frame(2), frame(3))
            await until(lambda: c.publisher.published == 3, what="3 published")
            ready = await r.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            resp = await r.get("/metrics")
            assert resp.headers["content-type"].startswith("text/plain; version=")
            m = samples(resp.text)
            assert (await r.get("/nope")).status_code == 404
        await fake.stop()
        assert m["tickcast_feed_frames_received_total"] == 3
        assert m["tickcast_feed_frames_published_total"] == 3
        assert m["tickcast_feed_publish_failures_total"] == 0
        assert m["tickcast_feed_publish_latency_seconds_count"] == 3
        assert m["tickcast_feed_frame_delay_seconds_count"] == 3
        assert m["tickcast_feed_reconnects_total{reason=handshake_timeout}"] >= 1
        assert m["tickcast_feed_connected"] == 1 and m["tickcast_feed_subscribed"] == 1
        assert m["tickcast_feed_stale"] == 0
        assert 0 <= m["tickcast_feed_seconds_since_last_frame"] < 5
        assert m["tickcast_feed_queued_frames"] == 0
        assert m["tickcast_feed_control_messages_total{kind=subscription}"] == 1

    asyncio.run(main())


def test_stale_feed_during_the_session(stale_logs: list[logging.LogRecord]) -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        cfg = settings("alpaca", await fake.start(), stale_s=0.4)
        c = Connector(cfg, MemoryClient(), TOPIC)
        async with Running(c) as r:
            await fake.wait_subscribed()
            fake.push(frame(1))
            await until(lambda: c.publisher.published == 1, what="published")
            assert (await r.get("/readyz")).status_code == 200
            await until(lambda: c.stale, timeout_s=3, what="stale")
            ready = await r.get("/readyz")
            assert ready.status_code == 503 and ready.json()["stale"] is True
            assert ready.json()["seconds_since_last_frame"] >= 0.4
            assert samples((await r.get("/metrics")).text)["tickcast_feed_stale"] == 1
            fake.push(frame(2))  # the feed comes back
            await until(lambda: not c.stale, what="fresh")
            assert (await r.get("/readyz")).status_code == 200
            assert samples((await r.get("/metrics")).text)["tickcast_feed_stale"] == 0
        await fake.stop()
        (line, *_) = [x for x in stale_logs if x.getMessage() == "stale feed"]
        assert line.levelno == logging.WARNING and line.__dict__["idle_s"] >= 0.4
        assert any(x.getMessage() == "feed fresh again" for x in stale_logs)

    asyncio.run(main())


def test_no_stale_feed_outside_the_session() -> None:
    async def main() -> None:
        now = time.gmtime()
        # A one-minute session that ended an hour ago (today, UTC).
        h = (now.tm_hour - 1) % 24
        session = Session.parse(f"{h:02d}:00-{h:02d}:01 UTC")
        fake = FakeAlpaca()
        cfg = settings("alpaca", await fake.start(), stale_s=0.2)
        c = Connector(cfg, MemoryClient(), TOPIC, session=session)
        async with Running(c) as r:
            await fake.wait_subscribed()
            await asyncio.sleep(0.8)
            assert not c.stale
            assert (await r.get("/readyz")).status_code == 200
        await fake.stop()

    asyncio.run(main())


def test_a_session_opening_is_not_stale_at_once() -> None:
    clock = [1000.0]
    inside = [False]

    class FakeSession:
        def contains(self, ts_ns: int) -> bool:
            return inside[0]

    cfg = settings("alpaca", "ws://127.0.0.1:9/", stale_s=60)
    c = Connector(cfg, MemoryClient(), TOPIC, session=FakeSession(), clock=lambda: clock[0])  # type: ignore[arg-type]
    clock[0] += 3600  # a quiet night
    c.check_stale()
    assert not c.stale
    inside[0] = True  # the session opens
    c.check_stale()
    assert not c.stale
    clock[0] += 61
    c.check_stale()
    assert c.stale
