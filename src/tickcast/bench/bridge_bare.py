"""The yardstick for the bridge benchmark: a bare `websockets` broadcast server.

`python -m tickcast.bench.bridge_bare PORT` on 127.0.0.1 only. Each client gets a
welcome frame and a `subscribed` reply to whatever it sends, so the benchmark
client talks to it exactly as to the bridge; nothing is authenticated, queued
or conflated. A text message `publish SYMBOL SEQ` on the path /control
stamps `trace.bridge` and sends the same prediction frame the hub would send to
every other client with `websockets.broadcast` (a synchronous write to each
transport), then answers `ok`. Same event loop as the bridge's uvicorn (uvloop
when installed), default `websockets` settings apart from compression, which
the bridge has off too.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson
import websockets
from websockets.asyncio.server import ServerConnection, serve

from tickcast.bench.sample import prediction_doc
from tickcast.bridge.hub import prediction_frame
from tickcast.bridge.view import client_doc

HOST = "127.0.0.1"  # loopback only, by construction
CONTROL = "/control"


def welcome() -> str:
    return orjson.dumps({"type": "welcome", "server": "bare-websockets"}).decode()


def update(symbol: str, seq: int) -> str:
    doc = client_doc(prediction_doc(symbol, seq))
    doc["trace"]["bridge"] = time.time_ns()
    return prediction_frame(doc)


async def run(port: int) -> None:
    clients: set[ServerConnection] = set()
    subscribed = orjson.dumps({"type": "subscribed"}).decode()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == CONTROL:
            async for msg in ws:
                _, symbol, seq = str(msg).split()
                websockets.broadcast(clients, update(symbol, int(seq)))
                await ws.send("ok")
            return
        clients.add(ws)
        try:
            await ws.send(welcome())
            async for _msg in ws:
                await ws.send(subscribed)
        finally:
            clients.discard(ws)

    async with serve(handler, HOST, port, compression=None):
        await asyncio.get_running_loop().create_future()  # until killed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    factory: Any = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run(int(args[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
