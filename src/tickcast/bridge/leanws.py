"""Per-connection memory below uvicorn and Starlette (issue #16).

An idle bridge connection used to cost ~40 KiB, of which less than a third was
tickcast's own (docs/PERFORMANCE.md, "Bridge memory per connection"). Two
things here trim what the server stack keeps for each connection's lifetime:

* `LeanWebSocketProtocol`, uvicorn's websockets-sansio protocol with: an
  inbox instead of an `asyncio.Queue` (three deques, ~2.3 KiB, for a queue that
  holds one message at a time: uvicorn pauses reading after each one) and a
  write flag instead of an `asyncio.Event` (one more deque); waiters are made
  when someone waits. The handshake's parsed request and response (~3 KiB of
  header objects) are dropped, and the request's headers emptied, once the
  connection is accepted: uvicorn reads them only until then.
* `websocket_fast_path`: a WebSocket handshake for a plain Starlette
  `WebSocketRoute` (no path parameters) goes straight to its endpoint instead
  of through Starlette's and FastAPI's middleware stack, whose coroutine frames
  (~7 KiB) stay alive for as long as the socket is open. Only when the app has
  no user middleware: adding one turns this off, so nothing is ever skipped.

It also offers the app a synchronous write, as the ASGI extension WRITE_NOW in
the scope: `write_now(text) -> bool` frames and writes the text at once if the
socket is open and its transport is not paused (what `websockets.broadcast`
does), else writes nothing and returns False, and the caller takes the ordinary
`send` path, which waits. The hub's fan-out uses it so that an update reaches a
client that keeps up without a task switch per client.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import State

WRITE_NOW = "tickcast.write_now"


class _Inbox:
    """What uvicorn uses of asyncio.Queue (put_nowait, get, empty), without the deques."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = []
        self._items.append(item)
        waiters, self._waiters = self._waiters, None
        for w in waiters or ():
            if not w.done():
                w.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)
        item = self._items.pop(0)
        if not self._items:
            self._items = None
        return item


class _Flag:
    """What uvicorn uses of asyncio.Event (set, clear, wait), waiters made on demand."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for w in waiters or ():
            if not w.done():
                w.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            await waiter


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][WRITE_NOW] = self.write_now

    def write_now(self, text: str) -> bool:
        """Frame and write `text` now if nothing would make `send` wait or fail."""
        if (
            not self.writable.is_set()
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # pragma: no cover - checked just above
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake is answered: uvicorn never reads these again. The request's
            # headers are emptied too, because websockets' parser (a generator) keeps
            # the request in a local for the connection's life; the scope has its copy.
            self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]


def websocket_fast_path(app: Any) -> Any:
    """`app`, with WebSocket handshakes for its plain routes sent straight to them."""
    if not isinstance(app, Starlette) or app.user_middleware:
        return app
    endpoints = {
        route.path: route.endpoint
        for route in app.router.routes
        if type(route) is WebSocketRoute
        and "{" not in route.path
        and inspect.iscoroutinefunction(route.endpoint)
    }
    if not endpoints:
        return app

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and not scope.get("root_path"):
            endpoint = endpoints.get(scope["path"])
            if endpoint is not None:
                await endpoint(WebSocket(scope, receive, send))
                return
        await app(scope, receive, send)

    return asgi
