"""Local stand-ins for the vendors' WebSocket servers, for tests and benchmarks.

Each speaks its vendor's documented protocol on 127.0.0.1 (sources below); none
talks to the network. A test pushes frames with `push()`; they go, in order, to
the connection that is subscribed (a frame taken by a connection that then drops
is gone, as it would be at the vendor); `drop()` ends the connections the way a
vendor outage does. Everything a client sent is kept per connection in
`received`, so a test can check the resubscription after a reconnect.

- FakeAlpaca: https://docs.alpaca.markets/docs/streaming-market-data (connection
  flow, `connected` / `authenticated`, the error list 400-410 and 500, the
  subscription acknowledgement listing every current subscription, 10 s to
  authenticate, control messages in arrays of one) and
  https://docs.alpaca.markets/docs/real-time-stock-pricing-data (message schemas).
- FakePolygon: https://polygon.io/docs/websocket/quickstart (`connected`,
  `{"action":"auth","params":key}`, `auth_success` / `auth_failed`, `subscribed
  to: ...`, one connection per cluster), `max_connections` as clients observe it:
  the newcomer is acknowledged, then told `max_connections` and closed with 1008.
- FakeYahoo: the streamer as yfinance's live client uses it
  (https://github.com/ranaroussi/yfinance, yfinance/live.py: `{"subscribe": [...]}`,
  no acknowledgement, `{"type":"pricing","message":"<base64 PricingData>"}` frames).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ALPACA_CHANNELS: Final = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)


@dataclass
class Drop:
    """Outbox item: end the connection that takes it (1011 close, or a TCP abort)."""

    abort: bool = False


@dataclass
class Conn:
    ws: ServerConnection
    received: list[Any] = field(default_factory=list)
    subscribed: bool = False


class FakeVendor:
    """Base server: subclasses implement `handshake` (the vendor's greeting and auth)."""

    def __init__(self, *, send_delay_s: float = 0.0) -> None:
        self.outbox: asyncio.Queue[bytes | Drop] = asyncio.Queue()
        self.conns: list[Conn] = []
        self.sent = 0
        self.send_delay_s = send_delay_s
        self._server: Server | None = None
        self._subscribed = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/"

    @property
    def connections(self) -> int:
        return len(self.conns)

    @property
    def received(self) -> list[list[Any]]:
        return [c.received for c in self.conns]

    async def start(self) -> str:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def push(self, *frames: bytes | str) -> None:
        for f in frames:
            self.outbox.put_nowait(f.encode() if isinstance(f, str) else f)

    def drop(self, abort: bool = False) -> None:
        """The next connection to reach this point in the outbox is ended."""
        self.outbox.put_nowait(Drop(abort))

    async def wait_subscribed(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        self._subscribed.clear()

    def active(self) -> list[Conn]:
        return [c for c in self.conns if c.subscribed]

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        self.conns.append(conn)
        try:
            if not await self.handshake(conn):
                return
            conn.subscribed = True
            self._subscribed.set()
            reader = asyncio.create_task(self._read_rest(conn))
            try:
                await self._pump(conn)
            finally:
                reader.cancel()
        except ConnectionClosed:
            pass
        finally:
            conn.subscribed = False

    async def _read_rest(self, conn: Conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for msg in conn.ws:
                conn.received.append(orjson.loads(msg))
                await self.after_subscribe(conn, conn.received[-1])

    async def after_subscribe(self, conn: Conn, msg: Any) -> None:
        """A client message after the subscription (a resubscription, a heartbeat)."""

    async def _pump(self, conn: Conn) -> None:
        closed = asyncio.create_task(conn.ws.wait_closed())
        try:
            while True:
                getter = asyncio.create_task(self.outbox.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                if not await self._deliver(conn, getter.result()):
                    return
        finally:
            closed.cancel()

    async def _deliver(self, conn: Conn, item: bytes | Drop) -> bool:
        if isinstance(item, Drop):
            if item.abort:
                conn.ws.transport.abort()
            else:
                await conn.ws.close(1011, "server going away")
            return False
        try:
            await conn.ws.send(item.decode())
        except ConnectionClosed:
            # Taken by a connection that is gone: the vendor does not resend it.
            return False
        self.sent += 1
        if self.send_delay_s:
            await asyncio.sleep(self.send_delay_s)
        return True

    async def recv_json(self, conn: Conn, timeout_s: float) -> Any:
        msg = orjson.loads(await asyncio.wait_for(conn.ws.recv(), timeout_s))
        conn.received.append(msg)
        return msg

    async def handshake(self, conn: Conn) -> bool:
        raise NotImplementedError


def _send(conn: Conn, obj: Any) -> Any:
    return conn.ws.send(orjson.dumps(obj).decode())


class FakeAlpaca(FakeVendor):
    def __init__(
        self,
        key: str = "key",
        secret: str = "secret",
        *,
        max_connections: int = 1,
        auth_timeout_s: float = 10.0,
        send_delay_s: float = 0.0,
    ) -> None:
        super().__init__(send_delay_s=send_delay_s)
        self.key, self.secret = key, secret
        self.max_connections = max_connections
        self.auth_timeout_s = auth_timeout_s
        self.refuse = 0  # the next N logins hit the connection limit (another session holds it)
        self.ack_subscribe = True

    async def _error(self, conn: Conn, code: int, msg: str) -> bool:
        await _send(conn, [{"T": "error", "code": code, "msg": msg}])
        await conn.ws.close(1008, msg)
        return False

    async def handshake(self, conn: Conn) -> bool:
        await _send(conn, [{"T": "success", "msg": "connected"}])
        try:
            msg = await self.recv_json(conn, self.auth_timeout_s)
        except TimeoutError:
            return await self._error(conn, 404, "auth timeout")
        except orjson.JSONDecodeError:
            return await self._error(conn, 400, "invalid syntax")
        if not isinstance(msg, dict) or msg.get("action") != "auth":
            return await self._error(conn, 401, "not authenticated")
        if (msg.get("key"), msg.get("secret")) != (self.key, self.secret):
            return await self._error(conn, 402, "auth failed")
        if len(self.active()) >= self.max_connections or self.refuse > 0:
            self.refuse = max(0, self.refuse - 1)
            return await self._error(conn, 406, "connection limit exceeded")
        await _send(conn, [{"T": "success", "msg": "authenticated"}])
        msg = await self.recv_json(conn, self.auth_timeout_s)
        if not isinstance(msg, dict) or msg.get("action") != "subscribe":
            return await self._error(conn, 400, "invalid syntax")
        if not self.ack_subscribe:  # a server that never confirms: the client must give up
            await conn.ws.wait_closed()
            return False
        await self._ack(conn, msg)
        return True

    async def _ack(self, conn: Conn, msg: dict[str, Any]) -> None:
        subs: dict[str, list[str]] = {ch: list(msg.get(ch) or []) for ch in ALPACA_CHANNELS}
        # Corrections and cancel errors come with trades (as the acknowledgement shows).
        subs["corrections"] = subs["cancelErrors"] = list(subs["trades"])
        await _send(conn, [{"T": "subscription", **subs}])

    async def after_subscribe(self, conn: Conn, msg: Any) -> None:
        if isinstance(msg, dict) and msg.get("action") == "subscribe":
            await self._ack(conn, msg)


class FakePolygon(FakeVendor):
    def __init__(
        self,
        key: str = "key",
        *,
        max_connections: int = 1,
        auth_timeout_s: float = 10.0,
        send_delay_s: float = 0.0,
    ) -> None:
        super().__init__(send_delay_s=send_delay_s)
        self.key = key
        self.max_connections = max_connections
        self.auth_timeout_s = auth_timeout_s
        self.refuse = 0  # the next N sessions are evicted with max_connections

    @staticmethod
    def _status(status: str, message: str) -> list[dict[str, str]]:
        return [{"ev": "status", "status": status, "message": message}]

    async def handshake(self, conn: Conn) -> bool:
        await _send(conn, self._status("connected", "Connected Successfully"))
        try:
            msg = await self.recv_json(conn, self.auth_timeout_s)
        except TimeoutError:
            await _send(conn, self._status("auth_timeout", "No authentication request received."))
            await conn.ws.close(1008)
            return False
        if (
            not isinstance(msg, dict)
            or msg.get("action") != "auth"
            or msg.get("params") != self.key
        ):
            await _send(conn, self._status("auth_failed", "authentication failed"))
            await conn.ws.close(1008)
            return False
        await _send(conn, self._status("auth_success", "authenticated"))
        msg = await self.recv_json(conn, self.auth_timeout_s)
        params = [p.strip() for p in str(msg.get("params", "")).split(",") if p.strip()]
        for p in params:
            await _send(conn, self._status("success", f"subscribed to: {p}"))
        if len(self.active()) >= self.max_connections or self.refuse > 0:
            self.refuse = max(0, self.refuse - 1)
            await _send(
                conn,
                self._status(
                    "max_connections", "Maximum number of websocket connections exceeded."
                ),
            )
            await conn.ws.close(1008)
            return False
        return True


class FakeYahoo(FakeVendor):
    async def handshake(self, conn: Conn) -> bool:
        msg = await self.recv_json(conn, 10.0)
        return isinstance(msg, dict) and isinstance(msg.get("subscribe"), list)


# -- frames as the vendors send them ----------------------------------------------------


def alpaca_trade(
    symbol: str, price: float, trade_id: int, t: str, size: float = 100
) -> dict[str, Any]:
    return {
        "T": "t",
        "S": symbol,
        "i": trade_id,
        "x": "V",
        "p": price,
        "s": size,
        "c": ["@"],
        "t": t,
        "z": "C",
    }


def polygon_trade(
    symbol: str, price: float, trade_id: int, t_ms: int, size: float = 100
) -> dict[str, Any]:
    return {
        "ev": "T",
        "sym": symbol,
        "x": 4,
        "i": str(trade_id),
        "z": 3,
        "p": price,
        "s": size,
        "c": [12],
        "t": t_ms,
        "q": trade_id,
    }


def yahoo_frame(symbol: str, price: float, t_ms: int, day_volume: int = 1000) -> bytes:
    from tickcast.ingest.formats.yahoo_pricing_pb2 import PricingData

    pd = PricingData(
        id=symbol,
        price=price,
        time=t_ms,
        exchange="NMS",
        quote_type=PricingData.EQUITY,
        market_hours=PricingData.REGULAR_MARKET,
        day_volume=day_volume,
    )
    msg = base64.b64encode(pd.SerializeToString()).decode()
    return orjson.dumps({"type": "pricing", "message": msg})


# -- a fake in its own thread (for a connector running in another process) -----------------


class Threaded:
    """Run a FakeVendor on its own event loop in a daemon thread."""

    def __init__(self, make: type[FakeVendor], **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._make = make
        self._kwargs = kwargs
        self.fake: FakeVendor | None = None
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _call(self, coro: Any, timeout_s: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def __enter__(self) -> Threaded:
        self._thread.start()

        async def make() -> FakeVendor:
            return self._make(**self._kwargs)

        self.fake = self._call(make())
        assert self.fake is not None
        self.url = self._call(self.fake.start())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.fake is not None
        with contextlib.suppress(Exception):
            self._call(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def push(self, *frames: bytes | str) -> None:
        assert self.fake is not None
        self.loop.call_soon_threadsafe(self.fake.push, *frames)

    def drop(self, abort: bool = False) -> None:
        assert self.fake is not None
        self.loop.call_soon_threadsafe(self.fake.drop, abort)

    def wait_subscribed(self, timeout_s: float = 10.0) -> None:
        assert self.fake is not None
        self._call(self.fake.wait_subscribed(timeout_s), timeout_s + 1)

    def sent(self) -> int:
        assert self.fake is not None
        return self.fake.sent
