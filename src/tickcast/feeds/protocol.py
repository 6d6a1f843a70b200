"""What every vendor protocol gives the connector: sans-I/O, one object per connection.

A vendor module turns each received WebSocket message into a `Step`: messages to
send back (auth, subscribe), the frame to publish unchanged (with the symbols in
it, for the ordering key), whether the subscription is now acknowledged, and a
note for the log. A refusal raises `Fatal` (stop: retrying cannot help, e.g. bad
keys) or `Retry` (reconnect after a backoff, with a floor when the vendor asks
for patience, e.g. its connection limit). No sockets here, so each protocol is
unit-tested message by message.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from tickcast.feeds.settings import FeedSettings
from tickcast.schema import normalise_symbol


class Fatal(Exception):
    """The vendor refused in a way a reconnect cannot fix: stop, exit non-zero."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Retry(Exception):
    """Drop this connection and reconnect after a backoff of at least `min_delay_s`."""

    def __init__(self, reason: str, detail: str, min_delay_s: float = 0.0) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.min_delay_s = min_delay_s


@dataclass
class Step:
    send: list[str] = field(default_factory=list)
    frame: bytes | None = None
    symbols: tuple[str, ...] = ()
    ready: bool = False
    note: str | None = None  # logged at WARNING: a vendor error that does not end the session
    control: str | None = None  # the kind of control message, counted in metrics


class VendorProtocol(ABC):
    """One connection's protocol state. `start()` is called once per connection."""

    format: ClassVar[str]

    def __init__(self, cfg: FeedSettings) -> None:
        self.cfg = cfg

    @abstractmethod
    def url(self) -> str: ...

    def headers(self) -> dict[str, str]:
        return {}

    @abstractmethod
    def start(self) -> Step:
        """Reset per-connection state; what to send as soon as the socket is open."""

    @abstractmethod
    def receive(self, raw: bytes) -> Step:
        """One received message (text frames as their UTF-8 bytes)."""

    def keepalive(self) -> list[str]:
        """Messages to resend every `keepalive_s` while subscribed (none by default)."""
        return []

    def receive_json(
        self,
        raw: bytes,
        control: Callable[[dict[str, Any]], Step | None],
        symbol_of: Callable[[dict[str, Any]], str | None],
    ) -> Step:
        """A JSON frame of one message or an array of them (Alpaca, Polygon): control
        messages are handled by `control` (None: not a control message); anything else
        makes the frame data, published unchanged, keyed by the symbols `symbol_of` finds."""
        try:
            msgs = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Not ours to judge: ingest dead-letters it with the original bytes.
            return Step(frame=raw, note="frame is not JSON")
        if isinstance(msgs, dict):
            msgs = [msgs]
        if not isinstance(msgs, list):
            return Step(frame=raw, note="frame is not a JSON array")
        step = Step()
        symbols: list[str] = []
        data = False
        for m in msgs:
            got = control(m) if isinstance(m, dict) else None
            if got is not None:
                step.send += got.send
                step.ready = step.ready or got.ready
                step.note = got.note or step.note
                step.control = got.control
                continue
            data = True
            sym = symbol_of(m) if isinstance(m, dict) else None
            if sym:
                symbols.append(sym)
        if data:
            # Published whole, control messages included: ingest skips benign ones.
            step.frame = raw
            step.symbols = tuple(symbols)
        return step

    @property
    def keepalive_s(self) -> float:
        return 0.0


def shard(symbol: str, shards: int) -> int:
    """A stable shard per symbol (crc32, not hash(): Python salts str hashes per process)."""
    return zlib.crc32(normalise_symbol(symbol).encode()) % shards


def ordering_key(name: str, symbols: Iterable[str], shards: int) -> tuple[str, bool]:
    """The frame's ordering key, and whether its symbols span more than one shard.

    A frame is published unchanged, so one with several symbols cannot be split:
    it goes under its first symbol's shard. Another symbol of that frame then
    shares an ordering key with that shard rather than its own, so its ticks in
    that frame may be ingested out of order with its ticks in frames keyed by
    its own shard. Bars are built by event time with a grace period
    (features), so this costs a late tick at worst, never a wrong one; set
    TICKCAST_FEED_SHARDS=1 for one total order.
    """
    first: int | None = None
    mixed = False
    for s in symbols:
        k = shard(s, shards)
        if first is None:
            first = k
        elif k != first:
            mixed = True
            break
    return f"{name}-{first or 0}", mixed
