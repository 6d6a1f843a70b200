"""Resume with `since` while a writer keeps writing to the Firestore emulator:
a client that drops mid-stream and reconnects with the last seq it saw ends
up with exactly the written seqs, in order, each once. The bridge runs under
a real uvicorn on 127.0.0.1 and the clients are real websockets clients."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets

from tickcast import clients
from tickcast.bench.loopback import LoopbackServer
from tickcast.bench.sample import prediction_doc
from tickcast.bridge import reconnect
from tickcast.bridge.app import create_app
from tickcast.bridge.protocol import CLOSE_RESTART
from tickcast.config import Settings
from tickcast.predict import store

pytestmark = pytest.mark.emulator

HANG_GUARD_S = 60.0
WRITES = 60


class Writer(threading.Thread):
    """Writes seq 1000, 2000, ... as the predict stage does (history + latest)."""

    def __init__(self, db: Any, symbol: str, n: int) -> None:
        super().__init__(daemon=True)
        self.db, self.symbol, self.n = db, symbol, n
        self.written: list[int] = []
        self.go = threading.Event()

    def run(self) -> None:
        self.go.wait()
        for i in range(1, self.n + 1):
            seq = i * 1000
            store.write(self.db, self.symbol, seq, prediction_doc(self.symbol, seq))
            self.written.append(seq)
            time.sleep(0.01)


@pytest.fixture
def bridge(backends: Any) -> Iterator[tuple[LoopbackServer, Any]]:
    cfg = Settings.from_env({**backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"})
    db = clients.firestore_client(backends.project)
    app = create_app(cfg, db)
    with LoopbackServer(app, cfg) as server:
        deadline = time.monotonic() + HANG_GUARD_S
        while not app.state.bridge.ready:
            assert time.monotonic() < deadline, "listeners never synced"
            time.sleep(0.02)
        yield server, app.state.bridge


async def recv_update(ws: Any) -> dict[str, Any]:
    while True:
        msg: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), HANG_GUARD_S))
        if msg["type"] in ("prediction", "snapshot"):
            return msg


def test_a_client_dropped_mid_stream_resumes_with_since_without_gap_or_duplicate(
    backends: Any, bridge: tuple[LoopbackServer, Any], symbol: str
) -> None:
    server, _ = bridge
    writer = Writer(clients.firestore_client(backends.project), symbol, WRITES)
    writer.start()

    async def scenario() -> tuple[list[int], list[bool]]:
        seen: list[int] = []
        replayed: list[bool] = []
        async with websockets.connect(server.url) as ws:
            await ws.recv()  # welcome
            await ws.send(orjson.dumps({"type": "subscribe", "symbol": symbol}).decode())
            writer.go.set()
            while len(seen) < 15:
                seen.append((await recv_update(ws))["seq"])
        # Disconnected: the writer keeps going meanwhile.
        while len(writer.written) < len(seen) + 15:
            await asyncio.sleep(0.01)
        async with websockets.connect(server.url) as ws:
            await ws.recv()
            sub = {"type": "subscribe", "symbol": symbol, "since": {symbol: seen[-1]}}
            await ws.send(orjson.dumps(sub).decode())
            while seen[-1] < WRITES * 1000:
                msg = await recv_update(ws)
                seen.append(msg["seq"])
                replayed.append(bool(msg.get("replay")))
        return seen, replayed

    seen, replayed = asyncio.run(scenario())
    writer.join(HANG_GUARD_S)
    assert seen == writer.written == [i * 1000 for i in range(1, WRITES + 1)]
    assert replayed[0] and not replayed[-1]  # history first, then live


def test_the_reconnecting_client_survives_a_server_side_close(
    backends: Any, bridge: tuple[LoopbackServer, Any], symbol: str
) -> None:
    server, hub_owner = bridge
    writer = Writer(clients.firestore_client(backends.project), symbol, WRITES)
    writer.start()
    seen: list[int] = []
    progress = reconnect.Progress()

    def on_update(msg: dict[str, Any]) -> None:
        seen.append(msg["seq"])
        if len(seen) == 1:
            writer.go.set()
        if len(seen) == 20 and server.loop is not None:  # a deploy: every socket gets 1012
            server.loop.call_soon_threadsafe(
                lambda: hub_owner.hub.close_all(CLOSE_RESTART, "restart", flush=True)
            )

    store.write(clients.firestore_client(backends.project), symbol, 0, prediction_doc(symbol, 0))
    asyncio.run(
        asyncio.wait_for(
            reconnect.follow(
                server.url,
                [symbol],
                on_update,
                stop=lambda: bool(seen) and seen[-1] >= WRITES * 1000,
                progress=progress,
            ),
            HANG_GUARD_S,
        )
    )
    writer.join(HANG_GUARD_S)
    assert seen == [0, *writer.written] and progress.connects == 2
