"""Liveness against the Firestore emulator: the watchdog restarts a listener
whose watch was closed or whose consumer thread died, /readyz says so, and a
SIGTERM drains the bridge and closes every client with 1012 (both the
container's entry point and the plain `uvicorn main:app` of `tickcast local up`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from tickcast import clients
from tickcast.bench.loopback import LoopbackServer
from tickcast.bench.sample import prediction_doc
from tickcast.bridge.app import create_app
from tickcast.config import Settings
from tickcast.local.processes import free_port
from tickcast.predict import store

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 60.0


def settings(backends: Any, **over: str) -> Settings:
    return Settings.from_env({**backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true", **over})


def readyz(base: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())
    except OSError:
        return 0, {}


def eventually(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not cond():
        assert time.monotonic() < deadline, "hang guard: condition never held"
        time.sleep(0.02)


def symbols_listener(status: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        lst for lst in status["listeners"] if lst["collection"] == "symbols"
    )
    return found


async def first_update(url: str, symbol: str, write: Callable[[], None]) -> int:
    async with websockets.connect(url) as ws:
        await ws.recv()
        await ws.send(orjson.dumps({"type": "subscribe", "symbol": symbol}).decode())
        await ws.recv()
        write()
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), HANG_GUARD_S))
            if msg["type"] == "prediction":
                seq: int = msg["seq"]
                return seq


def test_a_closed_watch_shows_in_readyz_and_the_watchdog_restarts_it(
    backends: Any, symbol: str
) -> None:
    db = clients.firestore_client(backends.project)
    # Watchdog passes only when the test asks for one: the broken state is observable.
    app = create_app(settings(backends, TICKCAST_WS_WATCHDOG_INTERVAL_S="3600"), db)
    bridge = app.state.bridge
    with LoopbackServer(app, app.state.bridge.cfg) as server:
        eventually(lambda: readyz(server.http)[0] == 200)
        listener = next(lst for lst in bridge.listeners if lst.collection == "symbols")
        listener.watch.close()  # the underlying Firestore watch stops
        code, status = readyz(server.http)
        assert code == 503 and symbols_listener(status)["active"] is False
        assert server.loop is not None
        restarted = asyncio.run_coroutine_threadsafe(bridge.watchdog.check(), server.loop)
        assert restarted.result(HANG_GUARD_S) == ["symbols"]
        eventually(lambda: readyz(server.http)[0] == 200)
        assert symbols_listener(readyz(server.http)[1])["restarts"] == 1
        seq = asyncio.run(
            first_update(
                server.url,
                symbol,
                lambda: store.write(db, symbol, 5000, prediction_doc(symbol, 5000)),
            )
        )
        assert seq == 5000  # the restarted listener delivers


def test_the_watchdog_notices_a_silently_dead_consumer_thread_by_itself(
    backends: Any, symbol: str
) -> None:
    db = clients.firestore_client(backends.project)
    app = create_app(settings(backends, TICKCAST_WS_WATCHDOG_INTERVAL_S="0.1"), db)
    bridge = app.state.bridge
    with LoopbackServer(app, bridge.cfg) as server:
        eventually(lambda: readyz(server.http)[0] == 200)
        listener = next(lst for lst in bridge.listeners if lst.collection == "symbols")
        listener.watch._consumer.stop()  # the thread ends; nobody is called back
        eventually(lambda: listener.restarts >= 1 and readyz(server.http)[0] == 200)
        seq = asyncio.run(
            first_update(
                server.url,
                symbol,
                lambda: store.write(db, symbol, 7000, prediction_doc(symbol, 7000)),
            )
        )
        assert seq == 7000


@pytest.mark.parametrize("entry", ["container", "local-uvicorn"])
def test_sigterm_drains_and_every_client_sees_1012(backends: Any, entry: str) -> None:
    port = free_port()
    argv = {
        "container": [sys.executable, "-m", "tickcast.bridge.serve", "--host", "127.0.0.1"],
        "local-uvicorn": [
            sys.executable,
            "-m",
            "uvicorn",
            "main:app",
            f"--app-dir={ROOT / 'functions' / 'ws_bridge'}",
            "--host=127.0.0.1",
            "--ws=websockets",
            "--timeout-graceful-shutdown=5",
        ],
    }[entry]
    if entry == "local-uvicorn":
        argv.append(f"--port={port}")
    else:
        argv += ["--port", str(port)]
    env = {**os.environ, **backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        eventually(lambda: readyz(f"http://127.0.0.1:{port}")[0] == 200 or proc.poll() is not None)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""

        async def scenario() -> list[int | None]:
            sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws") for _ in range(3)]
            for ws in sockets:
                await ws.recv()
                await ws.send('{"type":"subscribe","symbol":"AAPL"}')
                await ws.recv()
            proc.send_signal(signal.SIGTERM)
            codes = []
            for ws in sockets:
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), HANG_GUARD_S)
                codes.append(ws.close_code)
            return codes

        assert asyncio.run(scenario()) == [1012, 1012, 1012]
        assert proc.wait(timeout=HANG_GUARD_S) in (0, -signal.SIGTERM)
        assert b'"draining"' in (proc.stderr.read() if proc.stderr else b"")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
