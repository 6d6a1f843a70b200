"""The connector against local fake vendor servers (tickcast.feeds.fakes, each built from
its vendor's documentation) and an in-memory publisher with Pub/Sub's ordering-key
semantics. Loopback only; every test stops itself within seconds."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator

import orjson
import pytest
from feedkit import TOPIC, MemoryClient, Running, settings, until

from tickcast.feeds.backoff import Backoff
from tickcast.feeds.connector import EXIT_FATAL, EXIT_OK, EXIT_UNFLUSHED, Connector
from tickcast.feeds.fakes import (
    FakeAlpaca,
    FakePolygon,
    FakeVendor,
    FakeYahoo,
    alpaca_trade,
    polygon_trade,
    yahoo_frame,
)
from tickcast.feeds.protocol import ordering_key

T0 = "2024-01-02T15:00:00Z"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, text: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.getMessage() == text]


@pytest.fixture
def logs() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("tickcast.feeds")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def alpaca_frame(*trades: tuple[str, int]) -> bytes:
    return orjson.dumps([alpaca_trade(sym, 100.0 + i, i, T0) for sym, i in trades])


async def serve(fake: FakeVendor) -> str:
    return await fake.start()


# -- happy path ---------------------------------------------------------------------------


def test_alpaca_authenticates_subscribes_and_publishes_frames_unchanged() -> None:
    async def main() -> None:
        fake = FakeAlpaca("kid", "sec")
        cfg = settings(
            "alpaca",
            await serve(fake),
            channels="trades,quotes",
            APCA_API_KEY_ID="kid",
            APCA_API_SECRET_KEY="sec",
        )
        client = MemoryClient()
        c = Connector(cfg, client, TOPIC)
        frames = [alpaca_frame(("AAPL", 1)), alpaca_frame(("MSFT", 2), ("AAPL", 3))]
        async with Running(c) as r:
            await fake.wait_subscribed()
            fake.push(*frames)
            await until(lambda: len(client.published) == 2, what="2 published")
        await fake.stop()
        assert r.task is not None and r.task.result() == EXIT_OK
        # The documented flow, in order, on one connection.
        assert fake.received == [
            [
                {"action": "auth", "key": "kid", "secret": "sec"},
                {"action": "subscribe", "trades": ["AAPL", "MSFT"], "quotes": ["AAPL", "MSFT"]},
            ]
        ]
        assert [p.data for p in client.published] == frames  # byte for byte
        assert all(p.attrs == {"format": "alpaca", "feed": "alpaca"} for p in client.published)
        assert [p.key for p in client.published] == [
            ordering_key("alpaca", ["AAPL"], 16)[0],
            ordering_key("alpaca", ["MSFT"], 16)[0],  # several symbols: the first one's shard
        ]

    asyncio.run(main())


@pytest.mark.parametrize("vendor", ["polygon", "yahoo"])
def test_polygon_and_yahoo_publish_frames_unchanged_with_their_format(vendor: str) -> None:
    async def main() -> None:
        fake: FakeVendor = FakePolygon("pk") if vendor == "polygon" else FakeYahoo()
        cfg = settings(
            vendor, await serve(fake), POLYGON_API_KEY="pk", name=f"{vendor}-1", shards=4
        )  # type: ignore[arg-type]
        client = MemoryClient()
        c = Connector(cfg, client, TOPIC)
        if vendor == "polygon":
            frames = [
                orjson.dumps([polygon_trade("AAPL", 1.5, 1, 1_700_000_000_000)]),
                orjson.dumps([polygon_trade("MSFT", 2.5, 2, 1_700_000_000_001)]),
            ]
            want = [
                {"action": "auth", "params": "pk"},
                {"action": "subscribe", "params": "T.AAPL,T.MSFT"},
            ]
        else:
            frames = [
                yahoo_frame("AAPL", 190.5, 1_700_000_000_000),
                yahoo_frame("MSFT", 410.25, 1_700_000_000_500),
            ]
            want = [{"subscribe": ["AAPL", "MSFT"]}]
        async with Running(c) as r:
            await fake.wait_subscribed()
            await until(lambda: c.subscribed, what="subscribed")
            fake.push(*frames)
            await until(lambda: len(client.published) == 2, what="2 published")
            assert (await r.get("/readyz")).status_code == 200
        await fake.stop()
        assert fake.received[0] == want
        assert [p.data for p in client.published] == frames
        assert [p.key for p in client.published] == [
            ordering_key(f"{vendor}-1", [s], 4)[0] for s in ("AAPL", "MSFT")
        ]
        assert all(p.attrs == {"format": vendor, "feed": f"{vendor}-1"} for p in client.published)

    asyncio.run(main())


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["alpaca", "polygon"])
def test_bad_keys_stop_with_exit_3_after_one_attempt(vendor: str, logs: Records) -> None:
    async def main() -> None:
        fake: FakeVendor = FakeAlpaca("kid", "sec") if vendor == "alpaca" else FakePolygon("pk")
        cfg = settings(vendor, await serve(fake), backoff_min_s=0.01)  # type: ignore[arg-type]
        c = Connector(cfg, MemoryClient(), TOPIC)
        async with Running(c) as r:
            assert await r.code(5) == EXIT_FATAL
            # Stayed down: no retry storm while the process winds down.
            await asyncio.sleep(0.3)
        assert fake.connections == 1
        await fake.stop()
        assert c.fatal and ("402" in c.fatal or "auth_failed" in c.fatal)
        (line,) = logs.messages("feed stopped: the vendor refused")
        assert line.levelno == logging.CRITICAL
        assert not logs.messages("reconnecting")

    asyncio.run(main())


def test_fatal_hold_keeps_the_process_parked_and_not_ready() -> None:
    async def main() -> None:
        fake = FakeAlpaca("kid", "sec")
        cfg = settings("alpaca", await serve(fake), fatal_hold_s=30)
        c = Connector(cfg, MemoryClient(), TOPIC)
        async with Running(c) as r:
            await until(lambda: c.fatal is not None, what="fatal")
            ready = await r.get("/readyz")
            assert ready.status_code == 503 and "alpaca_402" in ready.json()["fatal"]
            assert (await r.get("/healthz")).status_code == 200
            assert not r.task.done()  # type: ignore[union-attr]
            c.request_stop()  # SIGTERM ends the hold early, still non-zero
            assert await r.code(5) == EXIT_FATAL
        assert fake.connections == 1
        await fake.stop()

    asyncio.run(main())


# -- reconnects ---------------------------------------------------------------------------


def test_server_drops_reconnect_with_backoff_and_resubscribe(logs: Records) -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        cfg = settings("alpaca", await serve(fake), backoff_min_s=0.05, backoff_max_s=0.4)
        client = MemoryClient()
        c = Connector(cfg, client, TOPIC, rng=random.Random(11))
        frames = [alpaca_frame(("AAPL", i)) for i in range(4)]
        async with Running(c):
            fake.push(frames[0])
            fake.drop()  # a clean close from the server (1011)
            fake.push(frames[1])
            fake.drop(abort=True)  # the server is killed: the TCP connection just ends
            fake.push(frames[2], frames[3])
            await until(lambda: len(client.published) == 4, timeout_s=10, what="4 published")
        await fake.stop()
        assert fake.connections == 3
        # Each connection authenticated and subscribed again.
        for got in fake.received:
            assert [m["action"] for m in got] == ["auth", "subscribe"]
        # Nothing lost, nothing twice, in order.
        assert [p.data for p in client.published] == frames
        # The waits are the full-jitter sequence of the seeded generator: growing ceilings.
        expected = Backoff(0.05, 0.4, rng=random.Random(11))
        waits = [r.__dict__ for r in logs.messages("reconnecting")]
        assert [w["delay_s"] for w in waits] == [round(expected.next(), 3) for _ in waits]
        assert [w["reason"] for w in waits] == ["closed_1011", "closed_abnormally"]
        assert len(waits) == 2

    asyncio.run(main())


def test_connection_limit_waits_at_least_the_floor(logs: Records) -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        fake.refuse = 2  # another instance holds the one connection (a rollout)
        cfg = settings("alpaca", await serve(fake), limit_backoff_s=0.3, backoff_min_s=0.01)
        client = MemoryClient()
        c = Connector(cfg, client, TOPIC)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with Running(c):
            await fake.wait_subscribed(5)
            elapsed = loop.time() - started
        await fake.stop()
        assert fake.connections == 3
        assert elapsed >= 0.6  # two waits of at least the floor
        waits = logs.messages("reconnecting")
        assert [w.__dict__["reason"] for w in waits] == ["alpaca_406", "alpaca_406"]
        assert all(w.__dict__["delay_s"] >= 0.3 for w in waits)

    asyncio.run(main())


def test_polygon_eviction_by_max_connections_is_retried() -> None:
    async def main() -> None:
        fake = FakePolygon()
        fake.refuse = 1
        cfg = settings("polygon", await serve(fake), limit_backoff_s=0.1)
        c = Connector(cfg, MemoryClient(), TOPIC)
        async with Running(c):
            await until(lambda: c.subscribed and fake.connections == 2, what="second session")
        await fake.stop()
        assert c.fatal is None

    asyncio.run(main())


def test_no_subscription_acknowledgement_reconnects() -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        fake.ack_subscribe = False
        cfg = settings("alpaca", await serve(fake), handshake_timeout_s=0.3, backoff_min_s=0.01)
        c = Connector(cfg, MemoryClient(), TOPIC)
        async with Running(c):
            await until(lambda: fake.connections >= 2, what="a second attempt")
            assert not c.subscribed
        await fake.stop()

    asyncio.run(main())


# -- publishing ---------------------------------------------------------------------------


def test_publish_failures_are_retried_nothing_lost_reader_paused() -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        queue, in_flight = 4, 2
        cfg = settings(
            "alpaca",
            await serve(fake),
            queue_frames=queue,
            max_in_flight=in_flight,
            publish_backoff_max_s=0.02,
            symbols="AAPL,MSFT,TSLA",
        )
        client = MemoryClient(fail=True)
        c = Connector(cfg, client, TOPIC)
        symbols = ["AAPL", "MSFT", "TSLA"]
        frames = [alpaca_frame((symbols[i % 3], i)) for i in range(60)]
        async with Running(c) as r:
            await fake.wait_subscribed()
            fake.push(*frames)
            await until(lambda: client.failures > 20, what="failures")
            await asyncio.sleep(0.3)
            # Pub/Sub is down: the reader stopped at the bound instead of buffering 60 frames.
            held = queue + in_flight + 1  # the queue, the batch being retried, one in hand
            assert c.metrics.frames_in._value.get() <= held
            assert c.unpublished() <= held
            assert client.published == []
            body = (await r.get("/metrics")).text
            assert 'tickcast_feed_publish_failures_total{feed="alpaca"}' in body
            client.fail = False  # Pub/Sub is back
            await until(lambda: len(client.published) == 60, timeout_s=10, what="all published")
        await fake.stop()
        # Nothing lost, nothing twice, and each ordering key kept its order.
        assert sorted(p.data for p in client.published) == sorted(frames)
        for key in {p.key for p in client.published}:
            got = [p.data for p in client.published if p.key == key]
            assert got == [f for f in frames if f in got]
        assert set(client.resumed) <= {p.key for p in client.published}
        assert c.metrics.reader_paused._value.get() > 0

    asyncio.run(main())


def test_stop_flushes_the_queue_and_exits_0() -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        cfg = settings("alpaca", await serve(fake), max_in_flight=1, queue_frames=100)
        client = MemoryClient(delay_s=0.02)  # a slow Pub/Sub: the queue builds up
        c = Connector(cfg, client, TOPIC)
        frames = [alpaca_frame(("AAPL", i)) for i in range(30)]
        async with Running(c) as r:
            await fake.wait_subscribed()
            fake.push(*frames)
            await until(lambda: c.metrics.frames_in._value.get() == 30, what="30 received")
            assert c.unpublished() > 5
            c.request_stop()  # what SIGTERM calls
            assert (await r.get("/readyz")).status_code == 503
            assert await r.code(5) == EXIT_OK
        await fake.stop()
        assert [p.data for p in client.published] == frames

    asyncio.run(main())


def test_stop_with_pubsub_down_exits_4_and_counts_what_is_left(logs: Records) -> None:
    async def main() -> None:
        fake = FakeAlpaca()
        cfg = settings("alpaca", await serve(fake), drain_s=0.3, queue_frames=10, max_in_flight=5)
        c = Connector(cfg, MemoryClient(fail=True), TOPIC)
        async with Running(c) as r:
            await fake.wait_subscribed()
            fake.push(*[alpaca_frame(("AAPL", i)) for i in range(5)])
            await until(lambda: c.metrics.frames_in._value.get() == 5, what="5 received")
            c.request_stop()
            assert await r.code(5) == EXIT_UNFLUSHED
        await fake.stop()
        (line,) = logs.messages("stopped with frames unpublished")
        assert line.__dict__["unpublished"] == 5

    asyncio.run(main())


def test_a_crashed_publisher_stops_the_connector_instead_of_stalling(logs: Records) -> None:
    class Broken(MemoryClient):
        def resume_publish(self, topic: str, ordering_key: str) -> None:
            raise RuntimeError("bug")

    async def main() -> None:
        fake = FakeAlpaca()
        cfg = settings("alpaca", await serve(fake), drain_s=0.3)
        c = Connector(cfg, Broken(fail=True), TOPIC)
        async with Running(c) as r:
            await fake.wait_subscribed()
            fake.push(alpaca_frame(("AAPL", 1)))
            assert await r.code(5) == EXIT_UNFLUSHED
        await fake.stop()
        (line,) = logs.messages("feed task failed; stopping")
        assert line.__dict__["task"] == "feed-publisher"

    asyncio.run(main())
