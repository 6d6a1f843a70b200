"""Channel `trades` on the Pub/Sub and Firestore emulators: the bridge opens its own
subscription on tickcast-ticks at start-up (with an expiration policy), a subscribed
client receives `trade` frames for what is published there, a symbol it did not
subscribe to never reaches it, and the subscription is deleted on shutdown."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import pubsub_v1

from tickcast import clients
from tickcast.bridge.app import create_app
from tickcast.bridge.runtime import Bridge
from tickcast.config import Settings
from tickcast.pubsub import publish
from tickcast.schema import TicksMessage

pytestmark = pytest.mark.emulator


def message(symbol: str, price: float, ts: int) -> bytes:
    tick = {"ts": ts, "price": price, "size": 5.0, "kind": "trade", "source": "alpaca"}
    return (
        TicksMessage(
            symbol=symbol,
            ticks=(tick,),  # type: ignore[arg-type]
            batch=f"{symbol}-{ts}",
            trace={"event": ts, "ingest": time.time_ns()},
        )
        .model_dump_json()
        .encode()
    )


def test_the_subscription_waits_for_the_topic(backends: Any) -> None:
    """`tickcast local up` starts the bridge before it creates the topics."""
    prefix = "late-" + str(time.time_ns())[-6:] + "-"
    cfg = Settings.from_env(
        {
            **backends.env,
            "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true",
            "TICKCAST_TOPIC_PREFIX": prefix,
        }
    )
    app = create_app(cfg, clients.firestore_client(backends.project))
    b: Bridge = app.state.bridge
    publisher = pubsub_v1.PublisherClient()
    with TestClient(app):
        deadline = time.monotonic() + 10
        while b.trades is None or b.trades.attempts == 0:
            assert time.monotonic() < deadline, "no attempt on the missing topic"
            time.sleep(0.05)
        publisher.create_topic(name=cfg.topic_path("ticks"))
        try:
            deadline = time.monotonic() + 15
            while not b.trades.active:
                assert time.monotonic() < deadline, b.trades.health()
                time.sleep(0.05)
        finally:
            name = b.trades.subscription
    assert name not in subscriptions(backends.project)
    publisher.delete_topic(topic=cfg.topic_path("ticks"))


def subscriptions(project: str) -> dict[str, Any]:
    client = pubsub_v1.SubscriberClient()
    return {s.name: s for s in client.list_subscriptions(project=f"projects/{project}")}


def test_published_ticks_reach_subscribed_clients_and_the_subscription_is_removed(
    backends: Any, symbol: str
) -> None:
    cfg = Settings.from_env({**backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"})
    other = symbol + "X"
    app = create_app(cfg, clients.firestore_client(backends.project))
    b: Bridge = app.state.bridge
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while not (b.trades is not None and b.trades.active):  # opened in the background
            assert time.monotonic() < deadline, b.trades and b.trades.health()
            time.sleep(0.05)
        name = b.trades.subscription
        made = subscriptions(backends.project)[name]
        assert made.topic == cfg.topic_path("ticks")
        assert made.expiration_policy.ttl.total_seconds() == 86_400
        with client.websocket_connect("/ws") as ws:
            assert "trades" in ws.receive_json()["channels"]
            ws.send_json({"type": "subscribe", "channel": "trades", "symbol": symbol})
            assert ws.receive_json()["type"] == "subscribed"
            now = time.time_ns()
            publish(cfg, "ticks", [(message(other, 9.0, now), other, {})])
            publish(cfg, "ticks", [(message(symbol, 123.5, now), symbol, {})])
            got = ws.receive_json()
            assert (got["type"], got["channel"], got["symbol"]) == ("trade", "trades", symbol)
            assert got["data"]["last"]["price"] == 123.5
            assert {"event", "ingest", "bridge"} <= got["data"]["trace"].keys()
            deadline = time.monotonic() + 10
            while other not in b.hub.book.symbols:  # the other symbol reached the bridge...
                assert time.monotonic() < deadline, "the other symbol never arrived"
                time.sleep(0.05)
            ws.send_json({"type": "ping", "id": 1})
            assert ws.receive_json()["type"] == "pong"  # ...and not this client
    assert b.trades is None
    assert name not in subscriptions(backends.project)
