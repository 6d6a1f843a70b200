"""`tickcast tail`: a WebSocket client that prints each update as it arrives."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import websockets


@dataclass
class TailStats:
    updates: int = 0
    ready: int = 0


def describe(msg: dict[str, Any]) -> str:
    doc = msg.get("data") or {}
    bar = doc.get("bar") or {}
    pred = doc.get("prediction")
    when = time.strftime("%H:%M:%S", time.localtime((msg.get("seq") or 0) / 1000))
    head = f"{when} {msg.get('symbol', '?'):<8} close={bar.get('c', float('nan')):>10.2f}"
    if pred:
        top = ", ".join(
            f"{f['name']} {f['contribution']:+.2f}" for f in pred.get("factors", [])[:2]
        )
        body = (
            f"p_up={pred['p_up']:.3f} {pred['direction']:<4} conf={pred['confidence']:.2f} [{top}]"
        )
    else:
        body = f"not ready: {doc.get('reason')}"
    ev = (doc.get("trace") or {}).get("event")
    lat = f" {(time.time_ns() - ev) / 1e6:6.0f} ms" if ev else ""
    return f"{head} {body}{lat}" + (" (replay)" if msg.get("replay") else "")


async def tail(
    url: str,
    symbols: Sequence[str],
    *,
    channel: str = "predictions",
    token: str | None = None,
    on_update: Callable[[dict[str, Any]], None] = lambda m: print(describe(m), flush=True),
    stop: Callable[[TailStats], bool] = lambda _s: False,
    stats: TailStats | None = None,
) -> TailStats:
    stats = stats or TailStats()
    if token:
        url += ("&" if "?" in url else "?") + "token=" + quote(token)
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(
            orjson.dumps(
                {"type": "subscribe", "channel": channel, "symbols": list(symbols)}
            ).decode()
        )
        async for raw in ws:
            msg = orjson.loads(raw)
            kind = msg.get("type")
            if kind == "error":
                raise RuntimeError(f"bridge error {msg.get('code')}: {msg.get('message')}")
            if kind in ("prediction", "snapshot", "bar"):
                stats.updates += 1
                doc = msg.get("data") or {}
                if doc.get("prediction"):
                    stats.ready += 1
                on_update(msg)
            if stop(stats):
                break
    return stats
