"""The benchmark's side-by-side fan-out: one update to F subscribed clients, on
the bridge and on the bare `websockets` broadcast server (bare.py), in turns.

Both servers stamp `trace.bridge` when they start fanning an update out, and a
client's latency is its receive time minus that stamp. Updates alternate
between the two servers (and which goes first), one at a time, each awaited
until every client has it, so load on this shared machine falls on both alike.
The client side is the same code for both: only the server differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import websockets

SYMBOL = "FANOUT"

Publish = Callable[[int], Awaitable[None]]


class Audience:
    """F clients of one server, all subscribed to SYMBOL."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.n = url, clients
        self.sockets: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.latencies_ms: list[float] = []
        self._seq = -1
        self._got = 0
        self._all = asyncio.Event()

    async def open(self, concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> Any:
            async with gate:
                ws = await websockets.connect(
                    self.url, compression=None, ping_interval=None, open_timeout=120
                )
                await ws.recv()  # welcome
                await ws.send(orjson.dumps({"type": "subscribe", "symbol": SYMBOL}).decode())
                await ws.recv()  # subscribed
                return ws

        self.sockets = list(await asyncio.gather(*(one() for _ in range(self.n))))
        self.tasks = [asyncio.create_task(self._receive(ws)) for ws in self.sockets]

    async def _receive(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                now = time.time_ns()
                msg = orjson.loads(raw)
                if msg.get("type") != "prediction" or msg.get("seq") != self._seq:
                    continue
                self.latencies_ms.append((now - msg["data"]["trace"]["bridge"]) / 1e6)
                self._got += 1
                if self._got == self.n:
                    self._all.set()

    async def one_update(self, seq: int, publish: Publish, settle_s: float) -> int:
        """Publish `seq` and wait until every client has it; returns how many did."""
        self._seq, self._got = seq, 0
        self._all.clear()
        await publish(seq)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all.wait(), settle_s)
        return self._got

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(
            *(ws.close() for ws in self.sockets), *self.tasks, return_exceptions=True
        )


async def compare(
    pairs: list[tuple[Audience, Publish]], updates: int, settle_s: float, gap_s: float = 0.05
) -> list[int]:
    """`updates` updates to each audience, alternating; returns deliveries per audience."""
    delivered = [0] * len(pairs)
    for audience, publish in pairs:  # a warm-up each, not counted: first-use costs
        await audience.one_update(1, publish, settle_s)
        audience.latencies_ms.clear()
    for i in range(updates):
        order = list(range(len(pairs)))
        if i % 2:
            order.reverse()
        for k in order:
            audience, publish = pairs[k]
            delivered[k] += await audience.one_update(1000 * (i + 1), publish, settle_s)
            await asyncio.sleep(gap_s)  # let the receive side go quiet between updates
    return delivered
