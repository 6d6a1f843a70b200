"""Channel `trades`: the last trade and the best quote per symbol, live from tickcast-ticks.

Three parts, the first two pure (no I/O, injectable clock):

- `Book`: per symbol, the last trade (kind `trade` only: `bar`, `cancel` and
  `correct` never become the last trade) and the best bid/ask (kind `quote`).
  A `cancel` or `correct` that names the current last trade (`ref`) sets
  `corrected: true` on it (the price stays: the tape's next trade replaces it);
  one naming another trade is ignored. Each change bumps the symbol's `seq`, a
  counter local to this bridge instance (not a bar time: `since` does not apply).
- `Throttle`: per client and symbol, at most `rate` frames a second. A change
  inside the interval is not queued: one timer per (client, symbol) sends the
  *latest* state when the interval ends, so a burst costs one frame.
- `TicksFeed`: one Pub/Sub subscription per bridge instance on tickcast-ticks,
  created at start-up (expiration policy 1 day, retention 10 minutes: the
  minimums Pub/Sub allows, so an instance that died without deleting it leaves
  nothing for long) and deleted on shutdown; streaming pull with flow control.
  Messages are acked as soon as they are parsed: a live view, never replayed.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tickcast import log
from tickcast.bridge.protocol import frame
from tickcast.config import Settings
from tickcast.schema import TicksMessage

_log = log.get("bridge.trades")

CHANNEL = "trades"
DEFAULT_RATE = 4.0  # frames per second per client and symbol (TICKCAST_WS_TRADES_RATE)
EXPIRATION_S = 86_400  # Pub/Sub's minimum TTL for an idle subscription
RETENTION_S = 600  # Pub/Sub's minimum message retention
ACK_DEADLINE_S = 10
MAX_MESSAGES = 1_000  # flow control: outstanding messages per instance
MAX_BYTES = 16 * 1024 * 1024
DELETE_TIMEOUT_S = 3.0
RETRY_FIRST_S = 0.5  # creating the subscription: backoff while the topic is missing
RETRY_MAX_S = 30.0


def enabled(cfg: Settings, environ: Mapping[str, str]) -> bool:
    """TICKCAST_WS_TRADES when set; otherwise on where Pub/Sub is reachable without
    probing for credentials: the emulator (local stack, tests) or Cloud Run (`K_SERVICE`)."""
    if cfg.ws_trades is not None:
        return cfg.ws_trades
    return bool(environ.get("PUBSUB_EMULATOR_HOST") or environ.get("K_SERVICE"))


# --- the book ------------------------------------------------------------------------


@dataclass
class TopOfBook:
    symbol: str
    seq: int = 0
    last: dict[str, Any] | None = None
    quote: dict[str, Any] | None = None
    trace: dict[str, int] = field(default_factory=dict)
    text: str = ""  # the frame for `seq`, built once for every subscriber

    def data(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "last": self.last, "quote": self.quote, "trace": self.trace}


class Book:
    def __init__(self) -> None:
        self.symbols: dict[str, TopOfBook] = {}
        self.messages = 0
        self.ignored = 0  # ticks that changed nothing (bars, stale, unrelated cancels)

    def apply(self, msg: TicksMessage, now_ns: int | None = None) -> TopOfBook | None:
        """The symbol's state after `msg`, or None when nothing a client sees changed."""
        self.messages += 1
        q = self.symbols.get(msg.symbol)
        if q is None:
            q = self.symbols[msg.symbol] = TopOfBook(msg.symbol)
        changed = False
        for t in msg.ticks:
            if t.kind == "trade":
                if q.last is not None and t.ts < q.last["ts"]:
                    self.ignored += 1  # out of order: an older trade is not the last one
                    continue
                q.last = {
                    "price": t.price,
                    "size": t.size,
                    "ts": t.ts,
                    "exchange": t.exchange,
                    "conditions": list(t.conditions),
                    "id": t.id,
                    "ref": t.ref,
                    "corrected": False,
                }
                changed = True
            elif t.kind == "quote":
                if q.quote is not None and t.ts < q.quote["ts"]:
                    self.ignored += 1
                    continue
                q.quote = {
                    "bid": t.bid,
                    "ask": t.ask,
                    "bid_size": t.bid_size,
                    "ask_size": t.ask_size,
                    "mid": t.price,
                    "ts": t.ts,
                }
                changed = True
            elif t.kind in ("cancel", "correct") and q.last is not None and t.ref is not None:
                if t.ref in (q.last.get("ref"), q.last.get("id")) and not q.last["corrected"]:
                    q.last = {**q.last, "corrected": True}
                    changed = True
                else:
                    self.ignored += 1
            else:
                self.ignored += 1  # bars: the `bars` channel's business
        if not changed:
            return None
        q.seq += 1
        q.trace = {**msg.trace, "bridge": now_ns if now_ns is not None else time.time_ns()}
        q.text = trade_frame(q)
        return q


def trade_frame(q: TopOfBook, type_: str = "trade") -> str:
    return frame(type_, channel=CHANNEL, symbol=q.symbol, seq=q.seq, data=q.data())


# --- per-client rate ---------------------------------------------------------------------


class Throttle:
    """At most `rate` sends a second per key; what arrives in between is coalesced."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next: dict[str, float] = {}  # key -> earliest next send
        self.pending: set[str] = set()
        self.coalesced = 0

    def admit(self, key: str, now: float) -> float | None:
        """None: send now. A positive delay: schedule one send after it (it will carry the
        latest state). -1.0: a send is already scheduled, nothing to do."""
        if key in self.pending:
            self.coalesced += 1
            return -1.0
        due = self._next.get(key, 0.0)
        if now >= due:
            self._next[key] = now + self.interval
            return None
        self.pending.add(key)
        return due - now

    def fired(self, key: str, now: float) -> None:
        self.pending.discard(key)
        self._next[key] = now + self.interval

    def forget(self, key: str) -> None:
        self.pending.discard(key)
        self._next.pop(key, None)


# --- the Pub/Sub side ----------------------------------------------------------------------


class TicksFeed:
    """One subscription per instance on tickcast-ticks, from start() to stop()."""

    def __init__(
        self,
        cfg: Settings,
        on_message: Callable[[TicksMessage], None],
        loop: asyncio.AbstractEventLoop,
        *,
        instance: str | None = None,
        client: Any = None,
    ) -> None:
        self.cfg = cfg
        self._on_message = on_message
        self._loop = loop
        self._client = client
        suffix = instance or f"{os.environ.get('K_REVISION', 'local')[-30:]}-{uuid.uuid4().hex[:8]}"
        self.subscription = (
            f"projects/{cfg.project_id}/subscriptions/{cfg.topic_prefix}ws-bridge-trades-{suffix}"
        ).lower()
        self._future: Future[Any] | None = None
        self._stopped = False
        self.received = 0
        self.bad = 0
        self.last_error: str | None = None
        self.created = False
        self.attempts = 0  # failed creations

    def _subscriber(self) -> Any:
        if self._client is None:
            from google.cloud import pubsub_v1

            self._client = pubsub_v1.SubscriberClient()
        return self._client

    def start(self) -> None:
        """Blocking: create the subscription, then open the streaming pull."""
        from google.cloud import pubsub_v1
        from google.protobuf import duration_pb2

        client = self._subscriber()
        client.create_subscription(
            request={
                "name": self.subscription,
                "topic": self.cfg.topic_path("ticks"),
                "ack_deadline_seconds": ACK_DEADLINE_S,
                "message_retention_duration": duration_pb2.Duration(seconds=RETENTION_S),
                "expiration_policy": {"ttl": duration_pb2.Duration(seconds=EXPIRATION_S)},
                "labels": {"tickcast": "ws-bridge-trades"},
            }
        )
        self.created = True
        if self._stopped:  # stop() ran while this was being created: undo it
            self.stop()
            return
        flow = pubsub_v1.types.FlowControl(max_messages=MAX_MESSAGES, max_bytes=MAX_BYTES)
        self._future = client.subscribe(self.subscription, self._callback, flow_control=flow)
        _log.info("trades subscription open", extra={"subscription": self.subscription})

    def _callback(self, message: Any) -> None:
        # Pub/Sub's thread: parse here, hand over with call_soon_threadsafe, never raise.
        try:
            msg = TicksMessage.model_validate_json(message.data)
        except ValidationError as exc:
            self.bad += 1
            self.last_error = str(exc.errors()[0]["msg"])
            message.ack()
            return
        self.received += 1
        message.ack()
        try:
            self._loop.call_soon_threadsafe(self._on_message, msg)
        except RuntimeError as exc:  # the loop is closing
            self.last_error = str(exc)

    @property
    def active(self) -> bool:
        return self._future is not None and not self._future.done()

    def stop(self) -> None:
        """Blocking: close the pull, delete the subscription (its expiry covers a crash)."""
        self._stopped = True
        future, self._future = self._future, None
        if future is not None:
            future.cancel()
            try:
                future.result(timeout=DELETE_TIMEOUT_S)
            except Exception as exc:  # cancelled, or the stream had already failed
                self.last_error = self.last_error or str(exc)
        if self.created:
            try:
                self._subscriber().delete_subscription(
                    request={"subscription": self.subscription}, timeout=DELETE_TIMEOUT_S
                )
                self.created = False
                _log.info("trades subscription deleted", extra={"subscription": self.subscription})
            except Exception as exc:  # the expiration policy removes it within a day
                self.last_error = str(exc)
                _log.warning(
                    "trades subscription not deleted",
                    extra={"subscription": self.subscription, "error": str(exc)},
                )

    def health(self) -> dict[str, Any]:
        return {
            "subscription": self.subscription,
            "active": self.active,
            "received": self.received,
            "bad": self.bad,
            "last_error": self.last_error,
        }
