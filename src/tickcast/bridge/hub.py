"""In-process fan-out: one sender task and one bounded outbox per client.

A slow client never stalls the rest: `publish` only places a frame in each
subscriber's outbox and wakes its sender. Live updates are conflated per
(channel, symbol), so a client that falls behind gets the newest state, not a
growing backlog; ordered frames (replies, replays) go in a bounded FIFO, and a
client whose FIFO overflows is disconnected.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from tickcast import log
from tickcast.bridge.protocol import frame

_log = log.get("bridge")

Key = tuple[str, str]  # (channel, symbol)
SendText = Callable[[str], Awaitable[None]]


class SlowClient(Exception):
    pass


class Client:
    def __init__(self, client_id: str, send: SendText, max_queue: int) -> None:
        self.id = client_id
        self._send = send
        self._ordered: deque[str] = deque()
        self._live: dict[Key, str] = {}
        self._max = max_queue
        self._wake = asyncio.Event()
        self.subs: set[Key] = set()
        self.last_seq: dict[Key, int] = {}
        self.replaying: set[Key] = set()
        self.held: dict[Key, list[tuple[int, str]]] = {}
        self.sent = 0
        self.conflated = 0
        self.closed = False

    def send(self, text: str) -> None:
        if len(self._ordered) >= self._max:
            raise SlowClient(f"client {self.id} is {len(self._ordered)} frames behind")
        self._ordered.append(text)
        self._wake.set()

    def offer(self, key: Key, seq: int, text: str) -> None:
        """A live update; dropped if not newer than what the client has."""
        if key in self.replaying:
            self.held.setdefault(key, []).append((seq, text))
            return
        if seq <= self.last_seq.get(key, -1):
            return
        self.last_seq[key] = seq
        if key in self._live:
            self.conflated += 1
        self._live[key] = text
        self._wake.set()

    async def run(self) -> None:
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            while self._ordered or self._live:
                if self._ordered:
                    text = self._ordered.popleft()
                else:
                    key = next(iter(self._live))
                    text = self._live.pop(key)
                await self._send(text)
                self.sent += 1

    def finish_replay(self, key: Key) -> None:
        self.replaying.discard(key)
        for seq, text in sorted(self.held.pop(key, []), key=lambda x: x[0]):
            self.offer(key, seq, text)


class Hub:
    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.subscribers: dict[Key, set[Client]] = {}
        self.latest: dict[str, dict[str, Any]] = {}  # symbol -> latest symbols/{SYM} doc
        self.updates = 0
        self.on_drop: Callable[[Client, str], None] | None = None

    def add(self, client: Client) -> None:
        self.clients[client.id] = client

    def remove(self, client: Client) -> None:
        client.closed = True
        client._wake.set()
        self.clients.pop(client.id, None)
        for key in client.subs:
            self.subscribers.get(key, set()).discard(client)
        client.subs.clear()

    def subscribe(self, client: Client, key: Key) -> None:
        client.subs.add(key)
        self.subscribers.setdefault(key, set()).add(client)

    def unsubscribe(self, client: Client, key: Key) -> None:
        client.subs.discard(key)
        client.last_seq.pop(key, None)
        subs = self.subscribers.get(key)
        if subs is not None:
            subs.discard(client)
            if not subs:
                del self.subscribers[key]

    def on_symbol_doc(self, doc: dict[str, Any]) -> None:
        """A symbols/{SYM} change: update the cache and fan out, serialising once per channel."""
        symbol = doc.get("symbol")
        seq = doc.get("seq")
        if not isinstance(symbol, str) or not isinstance(seq, int):
            return
        self.latest[symbol] = doc
        self.updates += 1
        doc.setdefault("trace", {})["bridge"] = time.time_ns()
        for channel, render in (("predictions", prediction_frame), ("bars", bar_frame)):
            subs = self.subscribers.get((channel, symbol))
            if subs:
                text = render(doc)
                for client in list(subs):
                    client.offer((channel, symbol), seq, text)

    def on_alert(self, doc: dict[str, Any]) -> None:
        symbol = doc.get("symbol")
        seq = doc.get("seq")
        subs = self.subscribers.get(("alerts", str(symbol)))
        if subs and isinstance(seq, int):
            text = frame("alert", channel="alerts", symbol=symbol, seq=seq, data=doc)
            for client in list(subs):
                client.send(text)


def prediction_frame(doc: dict[str, Any], type_: str = "prediction", **extra: Any) -> str:
    return frame(
        type_, channel="predictions", symbol=doc["symbol"], seq=doc["seq"], data=doc, **extra
    )


def bar_frame(doc: dict[str, Any], type_: str = "bar", **extra: Any) -> str:
    data = {
        k: doc.get(k) for k in ("symbol", "interval_s", "seq", "bar", "features", "ready", "reason")
    }
    return frame(type_, channel="bars", symbol=doc["symbol"], seq=doc["seq"], data=data, **extra)
