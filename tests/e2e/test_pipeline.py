"""The whole path on the emulators: Alpaca trades published to tickcast-raw ->
ingest -> ticks -> features -> features topic -> predict -> Firestore -> bridge
-> a WebSocket client that subscribed with the contract's exact message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
import websockets

from tickcast.config import Settings
from tickcast.local.stack import LocalStack
from tickcast.pubsub import publish
from tickcast.replay import OHLCV, Series, bar_messages

pytestmark = pytest.mark.e2e

BARS = 45  # > the longest warm-up (MACD 12/26/9 needs 34 closes)


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> Iterator[LocalStack]:
    with local_stack("e2e", redis_db=1) as st:
        yield st


def test_a_trade_becomes_a_prediction_on_a_websocket_client(stack: LocalStack) -> None:
    env = stack.env()
    s = Settings.from_env(env)
    rows = [
        OHLCV(100 + i, 101 + i, 99 + i, 100 + i + (0.5 if i % 3 else -0.5), 1000 + i)
        for i in range(BARS)
    ]
    # Every bar stamped in the past, so the clock closes the newest one at once.
    messages = list(bar_messages([Series("AAPL", rows)], 1.0, backfill=BARS + 1, limit=BARS))

    async def scenario() -> list[dict]:
        got: list[dict] = []
        async with websockets.connect(env["TICKCAST_WS_URL"]) as ws:
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            await ws.send(
                orjson.dumps(
                    {"type": "subscribe", "channel": "predictions", "symbol": "AAPL"}
                ).decode()
            )
            assert orjson.loads(await ws.recv()) == {
                "type": "subscribed",
                "channel": "predictions",
                "symbols": ["AAPL"],
            }
            for _due, body in messages:
                await asyncio.to_thread(publish, s, "raw", [(body, "", {"format": "alpaca"})])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                msg = orjson.loads(
                    await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
                )
                if msg["type"] in ("prediction", "snapshot"):
                    got.append(msg)
                    if msg["data"]["prediction"] is not None:
                        return got
        return got

    got = asyncio.run(scenario())
    assert got, "no update reached the WebSocket client"
    last = got[-1]
    assert (
        last["type"] == "prediction"
        and last["symbol"] == "AAPL"
        and last["channel"] == "predictions"
    )
    doc = last["data"]
    assert doc["ready"] is True and doc["prediction"]["direction"] in ("up", "down", "flat")
    # The bar holds exactly its row's trades: nothing lost, nothing doubled.
    row = rows[_index(messages, doc)]
    assert (doc["bar"]["o"], doc["bar"]["h"], doc["bar"]["l"], doc["bar"]["c"]) == (
        row.open,
        row.high,
        row.low,
        row.close,
    )
    assert doc["bar"]["v"] == pytest.approx(row.volume) and doc["bar"]["n"] == 4
    # Every hop stamped the trace, in order.
    tr = doc["trace"]
    # A bar closed by a trade carries the trade's hops; one closed by the clock, the clock's.
    first = ["ingest"] if "ingest" in tr else ["clock"]
    hops = [tr[h] for h in (*first, "features", "predict", "bridge")]
    assert hops == sorted(hops)
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs), "updates arrived out of order"


def test_a_crypto_pair_flows_end_to_end_under_any_spelling(stack: LocalStack) -> None:
    """Polygon crypto trades (`XT`, pair `BTC-USD`: https://polygon.io/docs/crypto/ws_crypto_xt)
    through ingest, features and predict to Firestore's `symbols/BTC-USD`, and to a client
    that subscribed with Alpaca's spelling `BTC/USD`."""
    env = stack.env()
    s = Settings.from_env(env)
    now_ms = time.time_ns() // 1_000_000
    start = now_ms - now_ms % 1000 - (BARS + 2) * 1000  # whole past seconds: bars close at once
    frames = [
        [
            {
                "ev": "XT",
                "pair": "BTC-USD",
                "p": 40_000.0 + i * 10 + k,
                "s": 0.25,
                "t": start + i * 1000 + k * 200,
                "c": [1 + k % 2],
                "i": str(i * 10 + k),
                "x": 1,
            }
            for k in range(3)
        ]
        for i in range(BARS)
    ]

    async def scenario() -> list[dict]:
        got: list[dict] = []
        async with websockets.connect(env["TICKCAST_WS_URL"]) as ws:
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            await ws.send(
                orjson.dumps({"type": "subscribe", "channel": "bars", "symbol": "BTC/USD"}).decode()
            )
            ack = orjson.loads(await ws.recv())
            assert ack["type"] == "subscribed" and ack["symbols"] == ["BTC-USD"]
            for frame in frames:
                await asyncio.to_thread(publish, s, "raw", [(orjson.dumps(frame), "", {})])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(got) < BARS - 1:
                msg = orjson.loads(
                    await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
                )
                if msg["type"] in ("bar", "prediction") and msg.get("symbol") == "BTC-USD":
                    got.append(msg)
        return got

    got = asyncio.run(scenario())
    assert got, "no crypto bar reached the WebSocket client"
    bar = got[0]["data"]["bar"]
    i = (bar["t"] - start) // 1000
    assert (bar["o"], bar["c"], bar["n"]) == (40_000.0 + i * 10, 40_002.0 + i * 10, 3)
    assert bar["v"] == pytest.approx(0.75)
    from google.cloud import firestore

    doc = firestore.Client(project=stack.project).document("symbols/BTC-USD").get()
    assert doc.exists and doc.get("symbol") == "BTC-USD"


def _index(messages: list[tuple[float, bytes]], doc: dict) -> int:
    """Which replayed row built the bar in `doc`: rows fill consecutive 1 s bars."""
    first = orjson.loads(messages[0][1])[0]
    ts_ms = int(datetime.fromisoformat(first["t"][:26] + "+00:00").timestamp() * 1000)
    return (doc["bar"]["t"] - (ts_ms - ts_ms % 1000)) // 1000


def test_poison_messages_are_dead_lettered_once_and_never_loop(stack: LocalStack, puller) -> None:
    """Through the emulator's real push: bad input is acked after it reaches the
    dead-letter topic with its reason, so it is neither retried nor lost."""
    s = Settings.from_env(stack.env())
    dead = puller("tickcast-deadletter", stack.project)
    poison = [
        b'{"T":"t","S":',
        b"\x00\x01binary",
        b'[{"T":"t","S":"AAPL","p":-5,"s":1,"t":"2024-01-01T00:00:00Z"}]',
    ]
    for body in poison:
        publish(s, "raw", [(body, "", {})])
    got = dead.pull(len(poison), timeout_s=30)
    assert len(got) == len(poison)
    bodies = [m.data for m in got]
    # Whole bodies that cannot be parsed go as they came; a bad element of a batch
    # goes as that element's own bytes.
    assert poison[0] in bodies and poison[1] in bodies
    (element,) = [b for b in bodies if b not in poison[:2]]
    assert orjson.loads(element) == orjson.loads(poison[2])[0]
    assert all(
        m.attributes["stage"] == "ingest" and m.attributes["reason"] and m.attributes["error"]
        for m in got
    )
    # Acked, not redelivered: nothing more arrives through a retry round.
    assert dead.pull(1, timeout_s=5) == []
