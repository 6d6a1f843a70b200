"""The bridge on a real uvicorn server on 127.0.0.1 with real websockets clients,
so TCP backpressure, ping timeouts and handshakes are the real thing.

No assertion depends on wall-clock thresholds: every wait has a generous
deadline only so a regression fails instead of hanging, and what is asserted
is counts and order.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tickcast.bench.loopback import LoopbackServer
from tickcast.bench.sample import prediction_doc
from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource
from tickcast.config import Settings

HANG_GUARD_S = 30.0
PAD = 64 * 1024  # big frames: a stalled reader fills the socket buffers quickly


def settings(**env: str) -> Settings:
    return Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true", **env})


@pytest.fixture
def source() -> Iterator[MemorySource]:
    s = MemorySource()
    yield s
    s.close()


def serve(source: MemorySource, cfg: Settings) -> tuple[LoopbackServer, Any]:
    app = create_app(cfg, source=source)
    return LoopbackServer(app, cfg), app.state.bridge


async def until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not cond():
        assert time.monotonic() < deadline, "hang guard: condition never held"
        await asyncio.sleep(0.01)


async def subscribed(url: str, symbol: str, **kw: Any) -> ClientConnection:
    ws = await websockets.connect(url, ping_interval=None, compression=None, max_size=2**22, **kw)
    assert orjson.loads(await ws.recv())["type"] == "welcome"
    await ws.send(orjson.dumps({"type": "subscribe", "symbol": symbol}).decode())
    assert orjson.loads(await ws.recv())["type"] == "subscribed"
    return ws


async def paused(url: str, symbol: str) -> ClientConnection:
    """A client that subscribes, then never reads again: a tiny receive buffer and
    a one-frame queue, so the server meets TCP backpressure almost at once."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])))
    sock.setblocking(False)
    return await subscribed(url, symbol, sock=sock, max_queue=1)


async def lockstep(source: MemorySource, fast: ClientConnection, symbol: str, n: int) -> list[int]:
    """Write n updates; each waits until the fast client has it. If the stalled
    client could hold up the fan-out, this would stop (and the guard fail)."""
    got = []
    for i in range(1, n + 1):
        source.put("symbols", symbol, prediction_doc(symbol, i * 1000, pad=PAD))
        msg = orjson.loads(await asyncio.wait_for(fast.recv(), HANG_GUARD_S))
        got.append(msg["seq"])
    return got


def test_a_paused_client_is_dropped_and_the_fast_one_gets_every_update(
    source: MemorySource,
) -> None:
    server, bridge = serve(source, settings(TICKCAST_WS_MAX_LAG_FRAMES="50"))

    async def scenario() -> tuple[list[int], list[int], int | None]:
        fast = await subscribed(server.url, "AAPL")
        stalled = await paused(server.url, "AAPL")
        got = await lockstep(source, fast, "AAPL", 300)
        await until(lambda: bridge.hub.slow_drops == 1)
        stalled_got = []
        with pytest.raises(websockets.ConnectionClosed):
            async for raw in stalled:  # resume reading: the backlog, then the end
                stalled_got.append(orjson.loads(raw)["seq"])
        await fast.close()
        return got, stalled_got, stalled.close_code

    with server:
        got, stalled_got, code = asyncio.run(scenario())
    assert got == [i * 1000 for i in range(1, 301)]
    assert stalled_got == sorted(set(stalled_got)) and len(stalled_got) < 300
    # 1013 when the close frame still fitted; a bare TCP close (1006) when the
    # buffers were full, which is the point of dropping it.
    assert code in (1013, 1006)


def test_a_paused_client_within_the_lag_limit_gets_the_newest_state_conflated(
    source: MemorySource,
) -> None:
    # Conflation starts once 8 frames wait; 300 updates far exceed what the socket buffers take.
    server, bridge = serve(source, settings(TICKCAST_WS_QUEUE_SIZE="8"))

    async def scenario() -> tuple[list[int], list[int], int]:
        fast = await subscribed(server.url, "MSFT")
        stalled = await paused(server.url, "MSFT")
        got = await lockstep(source, fast, "MSFT", 300)
        conflated = sum(s.outbox.conflated for s in bridge.hub.subscribers.values())
        stalled_got: list[int] = []
        while not stalled_got or stalled_got[-1] < 300_000:
            raw = await asyncio.wait_for(stalled.recv(), HANG_GUARD_S)
            stalled_got.append(orjson.loads(raw)["seq"])
        await fast.close()
        await stalled.close()
        return got, stalled_got, conflated

    with server:
        got, stalled_got, conflated = asyncio.run(scenario())
    assert got == [i * 1000 for i in range(1, 301)]
    assert bridge.hub.slow_drops == 0 and conflated > 0
    assert stalled_got == sorted(set(stalled_got))  # in order, no duplicate
    assert len(stalled_got) < 300 and stalled_got[-1] == 300_000  # fewer, ending on the newest


def test_a_dead_client_is_dropped_by_ping_timeout_and_the_live_one_stays(
    source: MemorySource,
) -> None:
    cfg = settings(TICKCAST_WS_PING_INTERVAL_S="0.2", TICKCAST_WS_PING_TIMEOUT_S="0.2")
    server, bridge = serve(source, cfg)

    async def scenario() -> tuple[int, int]:
        live = await subscribed(server.url, "AAPL")  # answers pings by itself
        dead = await subscribed(server.url, "AAPL")
        await until(lambda: len(bridge.hub.subscribers) == 2)
        dead.transport.pause_reading()  # gone silent: pings go unanswered
        await until(lambda: len(bridge.hub.subscribers) == 1)
        survivor = next(iter(bridge.hub.subscribers.values())).id
        source.put("symbols", "AAPL", prediction_doc("AAPL", 1000))
        seq = orjson.loads(await asyncio.wait_for(live.recv(), HANG_GUARD_S))["seq"]
        await live.close()
        dead.transport.abort()
        return seq, int(survivor[1:])

    with server:
        seq, survivor = asyncio.run(scenario())
    assert seq == 1000 and survivor == 1  # the first (live) connection is the one left


def test_a_foreign_origin_is_refused_at_the_handshake(source: MemorySource) -> None:
    server, bridge = serve(source, settings(TICKCAST_WS_ALLOWED_ORIGINS="https://app.example"))

    async def scenario() -> int:
        ok = await subscribed(server.url, "AAPL", origin="https://app.example")
        await ok.close()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.url, origin="https://evil.example")
        return refused.value.response.status_code

    with server:
        assert asyncio.run(scenario()) == 403
    assert bridge.metrics.rejections.labels("origin")._value.get() == 1


def test_the_load_benchmark_delivers_everything_at_small_scale() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tickcast.bench.bridge",
            "--connections",
            "200",
            "--symbols",
            "20",
            "--rounds",
            "3",
            "--interval",
            "0.1",
            "--fanout-clients",
            "50",
            "--fanout-updates",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res["delivered"] == res["expected"] == 600
    assert res["closed_1012"] == 200  # SIGTERM drained every client with 1012
    assert res["server_rss_connected_mib"] > 0 and res["fanout_ms_p99"] > 0
    # The yardstick ran in the same invocation: a bare websockets server, same clients.
    assert res["fanout_delivered"] == res["bare_fanout_delivered"] == 150
    assert res["bare_kib_per_idle_connection"] > 0 and res["bare_fanout_ms_p99"] > 0


def test_per_message_deflate_is_off_by_default(source: MemorySource) -> None:
    """uvicorn offers it unless told not to; the websockets client asks for it by default."""

    async def extensions(url: str) -> str | None:
        async with websockets.connect(url, ping_interval=None) as ws:  # compression="deflate"
            assert ws.response is not None
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    for env, expected in (({}, None), ({"TICKCAST_WS_PER_MESSAGE_DEFLATE": "true"}, True)):
        server, _ = serve(source, settings(**env))
        with server:
            got = asyncio.run(extensions(server.url))
        if expected is None:
            assert got is None
        else:
            assert got is not None and "permessage-deflate" in got


def test_an_idle_connection_holds_one_task(source: MemorySource) -> None:
    """Each idle connection costs the server its own ASGI task and nothing more: no
    sender, reader or stop-signal task waiting alongside it (issue #16, memory)."""
    server, bridge = serve(source, settings())
    n = 20

    async def count_tasks() -> int:
        return len(asyncio.all_tasks())

    def server_tasks() -> int:
        assert server.loop is not None
        return asyncio.run_coroutine_threadsafe(count_tasks(), server.loop).result(HANG_GUARD_S)

    async def scenario() -> tuple[int, int]:
        before = await asyncio.to_thread(server_tasks)
        clients = [await subscribed(server.url, "AAPL") for _ in range(n)]
        await until(lambda: len(bridge.hub.subscribers) == n)
        await until(lambda: all(not len(s.outbox) for s in bridge.hub.subscribers.values()))
        await asyncio.sleep(0.1)  # the last senders return after their final write
        after = await asyncio.to_thread(server_tasks)
        for ws in clients:
            await ws.close()
        return before, after

    with server:
        before, after = asyncio.run(scenario())
    assert after - before == n
