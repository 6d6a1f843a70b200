"""Revocation always takes effect, on every bridge instance (issue 14, point 4).

Two bridges (two apps, two Firestore clients, two real uvicorn servers) on
the same Firestore emulator, as two Cloud Run instances would be. A key with
sockets open on both is revoked, or deleted: both close them within the
stated bound. It still holds when one instance's api_keys listener is stuck
(its stream delivers nothing yet looks alive, as a half-open one does), and
when the listener was down while the key was deleted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import orjson
import pytest
import websockets
from google.cloud import firestore

from tickcast import clients
from tickcast.bench.loopback import LoopbackServer
from tickcast.bridge import apikeys
from tickcast.bridge.app import create_app
from tickcast.bridge.principal import Limits
from tickcast.config import Settings

pytestmark = pytest.mark.emulator

HANG_GUARD_S = 60.0
# What the listener gives on a healthy instance: docs/PROTOCOL.md states about a second;
# the margin is for an emulator sharing two busy cores with other suites.
LISTENER_BOUND_S = 10.0


class Instance:
    def __init__(self, backends: Any, stack: ExitStack) -> None:
        cfg = Settings.from_env(
            {
                **backends.env,
                "TICKCAST_WS_JWT_SECRET": "v" * 40,
                "TICKCAST_WS_WATCHDOG_INTERVAL_S": "3600",  # passes only when a test asks
            }
        )
        self.db = firestore.Client(project=backends.project)
        stack.callback(self.db.close)
        self.app = create_app(cfg, self.db)
        self.bridge = self.app.state.bridge
        self.server = stack.enter_context(LoopbackServer(self.app, cfg))
        deadline = time.monotonic() + HANG_GUARD_S
        while not self.bridge.ready:
            assert time.monotonic() < deadline, "listeners never synced"
            time.sleep(0.02)

    @property
    def keys_listener(self) -> Any:
        return next(lst for lst in self.bridge.listeners if lst.collection == apikeys.COLLECTION)

    def on_loop(self, fn: Any) -> Any:
        assert self.server.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self.server.loop).result(HANG_GUARD_S)


@pytest.fixture
def two(backends: Any) -> Iterator[tuple[Instance, Instance]]:
    with ExitStack() as stack:
        yield Instance(backends, stack), Instance(backends, stack)


def new_key(db: Any) -> str:
    limits = Limits(max_connections=5, max_subscriptions=10, messages_per_second=10.0)
    _, token = apikeys.create(db, "revocation-test", ["*"], limits)
    return token


async def open_socket(url: str, token: str) -> Any:
    ws = await websockets.connect(url)
    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
    assert orjson.loads(await ws.recv())["type"] == "welcome"
    return ws


async def closed_by_server(ws: Any) -> tuple[str | None, int | None, float]:
    """Read until the server closes: the last error code, the close code, when."""
    code = None
    try:
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg["type"] == "error":
                code = msg["code"]
    except websockets.ConnectionClosed:
        pass
    return code, ws.close_code, time.monotonic()


def ended_on_both(
    two: tuple[Instance, Instance], token: str, act: Any, bound_s: float
) -> list[tuple[str | None, int | None, float]]:
    """Open a socket on each instance, `act()`, and wait (at most `bound_s`) for both to close."""

    async def scenario() -> list[tuple[str | None, int | None, float]]:
        sockets = [await open_socket(i.server.url, token) for i in two]
        started = time.monotonic()
        await asyncio.to_thread(act)
        try:
            ends = await asyncio.wait_for(
                asyncio.gather(*(closed_by_server(ws) for ws in sockets)), bound_s
            )
        finally:
            for ws in sockets:
                await ws.close()
        return [(code, close, at - started) for code, close, at in ends]

    return asyncio.run(scenario())


def test_a_revoked_key_is_cut_off_on_every_instance(two, backends) -> None:
    db = clients.firestore_client(backends.project)
    token = new_key(db)
    key_id = apikeys.key_id_of(token)
    assert key_id is not None
    ends = ended_on_both(two, token, lambda: apikeys.revoke(db, key_id), LISTENER_BOUND_S)
    assert [(code, close) for code, close, _ in ends] == [("revoked", 4401)] * 2


def test_a_deleted_key_is_cut_off_on_every_instance_and_refused_after(two, backends) -> None:
    db = clients.firestore_client(backends.project)
    token = new_key(db)
    key_id = apikeys.key_id_of(token)
    ref = db.collection(apikeys.COLLECTION).document(str(key_id))
    ends = ended_on_both(two, token, ref.delete, LISTENER_BOUND_S)
    assert [(code, close) for code, close, _ in ends] == [("revoked", 4401)] * 2
    for instance in two:
        assert key_id not in instance.bridge.keys.records  # evicted, not kept as valid

    async def again(url: str) -> str:
        async with websockets.connect(url) as ws:
            await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
            code: str = orjson.loads(await ws.recv())["code"]
            return code

    assert [asyncio.run(again(i.server.url)) for i in two] == ["unauthorized"] * 2


def test_a_stuck_keys_listener_still_closes_within_the_recheck_bound(two, backends) -> None:
    stuck = two[0]
    stuck.bridge.key_recheck_s = 1.0  # the bound under test (default 30 s), made short
    # The watch stays open and looks active, but nothing it delivers reaches the bridge:
    # what a half-open stream looks like. The watchdog has nothing to restart.
    stuck.keys_listener.generation += 1
    assert stuck.on_loop(stuck.bridge.watchdog.check) == []
    db = clients.firestore_client(backends.project)
    token = new_key(db)
    key_id = apikeys.key_id_of(token)
    assert key_id is not None
    ends = ended_on_both(two, token, lambda: apikeys.revoke(db, key_id), HANG_GUARD_S / 2)
    assert [(code, close) for code, close, _ in ends] == [("revoked", 4401)] * 2
    stuck_s, healthy_s = ends[0][2], ends[1][2]
    assert healthy_s < LISTENER_BOUND_S
    assert stuck_s < stuck.bridge.key_recheck_s + LISTENER_BOUND_S


def test_keys_deleted_while_the_listener_was_down_are_dropped_when_it_restarts(
    two, backends
) -> None:
    instance = two[0]
    db = clients.firestore_client(backends.project)
    token = new_key(db)
    key_id = apikeys.key_id_of(token)
    ref = db.collection(apikeys.COLLECTION).document(str(key_id))

    def delete_while_down() -> None:
        instance.keys_listener.generation += 1  # deaf from here on ...
        ref.delete()
        time.sleep(1.0)  # ... while the deletion goes by
        instance.keys_listener.watch.close()  # then its watch dies
        assert instance.on_loop(instance.bridge.watchdog.check) == [apikeys.COLLECTION]

    async def scenario() -> tuple[str | None, int | None, float]:
        ws = await open_socket(instance.server.url, token)
        await asyncio.to_thread(delete_while_down)
        try:  # a restarted watch first reads the whole collection: more than a change
            return await asyncio.wait_for(closed_by_server(ws), HANG_GUARD_S / 2)
        finally:
            await ws.close()

    code, close, _ = asyncio.run(scenario())
    assert (code, close) == ("revoked", 4401)
    assert key_id not in instance.bridge.keys.records
