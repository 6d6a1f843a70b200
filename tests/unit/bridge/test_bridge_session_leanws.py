"""leanws.py: the slimmer uvicorn protocol pieces and the /ws fast path (issue #16)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tickcast.bridge.leanws import _Flag, _Inbox, websocket_fast_path
from tickcast.bridge.serve import uvicorn_config
from tickcast.config import Settings


def test_the_inbox_is_first_in_first_out_and_wakes_a_waiting_reader() -> None:
    async def scenario() -> list[Any]:
        box = _Inbox()
        assert box.empty()
        reader = asyncio.create_task(box.get())
        await asyncio.sleep(0)
        box.put_nowait(1)
        box.put_nowait(2)
        got = [await reader, await box.get()]
        assert box.empty() and box._items is None and not box._waiters
        return got

    assert asyncio.run(scenario()) == [1, 2]


def test_a_cancelled_reader_leaves_no_waiter_behind() -> None:
    async def scenario() -> None:
        box = _Inbox()
        reader = asyncio.create_task(box.get())
        await asyncio.sleep(0)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        assert not box._waiters
        box.put_nowait("x")
        assert await box.get() == "x"

    asyncio.run(scenario())


def test_the_flag_blocks_writers_until_set() -> None:
    async def scenario() -> None:
        flag = _Flag()
        flag.set()
        await flag.wait()  # set: no wait
        flag.clear()
        writer = asyncio.create_task(flag.wait())
        await asyncio.sleep(0)
        assert not writer.done()
        flag.set()
        await asyncio.wait_for(writer, 1)

    asyncio.run(scenario())


async def _endpoint(ws: WebSocket) -> None:
    await ws.close()


class _Passthrough:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_the_fast_path_applies_only_without_middleware() -> None:
    plain = Starlette(routes=[WebSocketRoute("/ws", _endpoint)])
    assert websocket_fast_path(plain) is not plain
    wrapped = Starlette(
        routes=[WebSocketRoute("/ws", _endpoint)], middleware=[Middleware(_Passthrough)]
    )
    assert websocket_fast_path(wrapped) is wrapped  # a middleware is never skipped
    params = Starlette(routes=[WebSocketRoute("/ws/{room}", _endpoint)])
    assert websocket_fast_path(params) is params


def test_serve_config_uses_the_lean_protocol_and_no_compression() -> None:
    cfg = Settings.from_env({})
    assert cfg.ws_per_message_deflate is False
    config = uvicorn_config(Starlette(), cfg, "127.0.0.1", 0)
    assert config.ws_per_message_deflate is False
    on = Settings.from_env({"TICKCAST_WS_PER_MESSAGE_DEFLATE": "true"})
    assert uvicorn_config(Starlette(), on, "127.0.0.1", 0).ws_per_message_deflate is True
