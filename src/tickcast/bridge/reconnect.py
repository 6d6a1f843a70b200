"""A client that survives reconnects without gaps: the last seq seen per symbol
becomes `since` on the next subscribe.

Connections end by design: Cloud Run's request timeout (the bridge closes
with 1001 a little before it), a deploy or scale-in (1012), a client that
fell behind (1013). `follow` reconnects with jittered backoff and resumes;
only refused credentials (4401) end it. `tickcast tail` and the dashboard
follow the same rules.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tickcast.bridge.protocol import CLOSE_UNAUTHORIZED

UPDATE_TYPES = ("prediction", "snapshot", "bar")
MAX_BACKOFF_S = 30.0


class Refused(Exception):
    """The bridge refused the credentials (close 4401): retrying cannot help."""


@dataclass
class Progress:
    last_seq: dict[str, int] = field(default_factory=dict)
    connects: int = 0


async def follow(
    url: str,
    symbols: Sequence[str],
    on_update: Callable[[dict[str, Any]], Awaitable[None] | None],
    *,
    channel: str = "predictions",
    token: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> Progress:
    """Call `on_update` for every update, each seq once and in order per symbol."""
    p = progress or Progress()
    backoff = 0.5
    while not stop():
        try:
            async with websockets.connect(url, max_size=2**22, open_timeout=10) as ws:
                p.connects += 1
                if token:  # a message, not ?token=: query strings end up in request logs
                    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
                sub: dict[str, Any] = {
                    "type": "subscribe",
                    "channel": channel,
                    "symbols": list(symbols),
                }
                since = {s: p.last_seq[s] for s in symbols if s in p.last_seq}
                if since:
                    sub["since"] = since
                await ws.send(orjson.dumps(sub).decode())
                async for raw in ws:
                    msg = orjson.loads(raw)
                    if msg.get("type") in UPDATE_TYPES:
                        backoff = 0.5  # the session works: a later drop retries quickly
                        symbol, seq = msg.get("symbol"), msg.get("seq")
                        if not isinstance(symbol, str) or not isinstance(seq, int):
                            continue
                        if seq <= p.last_seq.get(symbol, -1):
                            continue
                        p.last_seq[symbol] = seq
                        result = on_update(msg)
                        if result is not None:
                            await result
                    if stop():
                        return p
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == CLOSE_UNAUTHORIZED:
                raise Refused(exc.rcvd.reason or "credentials refused") from None
        except (OSError, InvalidHandshake, TimeoutError):
            pass  # not reachable right now: retry
        await asyncio.sleep(backoff * (1 + random.random()))
        backoff = min(backoff * 2, max_backoff_s)
    return p
