"""In-process fan-out: one outbox per client, and a sender task while it has frames.

A slow client never stalls the rest: fan-out only places a frame in each
subscriber's outbox (see outbox.py) and wakes its sender. Each update is
serialised once per channel and the same string goes to every subscriber.

Firestore listeners deliver the *latest* document, so intermediate versions
can be skipped (coalesced snapshots, throttled latest writes, a restarted
listener). The hub therefore orders updates per symbol and, when a new seq is
more than one bar past the last one it published, fills the hole from the
history collection before publishing: live subscribers see every bar, in order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tickcast import log
from tickcast.bridge.outbox import Key, Outbox
from tickcast.bridge.principal import Principal
from tickcast.bridge.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    error_frame,
    frame,
)
from tickcast.bridge.trades import CHANNEL as TRADES
from tickcast.bridge.trades import DEFAULT_RATE, Book, Throttle, trade_frame
from tickcast.bridge.view import alert_data, bar_data, client_doc
from tickcast.schema import TicksMessage

_log = log.get("bridge")

SendText = Callable[[str], Awaitable[None]]
WriteNow = Callable[[str], bool]  # write at once if the socket takes it without waiting
# (symbol, after, until, limit) -> the newest `limit` history docs with after < seq <= until, ascending
HistoryReader = Callable[[str, int, int, int], Awaitable[list[dict[str, Any]]]]
FILL_MAX = 100  # longer holes are left to `since` replays and REST paging
AGE_JITTER = 0.1  # spread age-outs so a deploy's reconnect wave does not repeat in lockstep


class Subscriber:
    """One connection's side of the hub: its outbox, subscriptions and sender.

    Memory matters here: an instance holds 10,000 of these, mostly idle. So the
    sender is a task only while there is something to write (`start()`, then
    `_kick` spawns it and it ends when the outbox is empty), and the waiters it
    and replays need are created when first waited on, not per connection.
    """

    __slots__ = (
        "_closing",
        "_on_end",
        "_room",
        "_send",
        "_sender",
        "_stopped",
        "_waiter",
        "_write_now",
        "close_code",
        "close_reason",
        "connected_at",
        "failed",
        "held",
        "id",
        "last_sent_at",
        "last_seq",
        "max_age_s",
        "on_principal",
        "outbox",
        "principal",
        "sent",
        "subs",
        "throttle",
    )

    def __init__(
        self,
        sub_id: str,
        principal: Principal,
        send: SendText,
        outbox: Outbox,
        max_age_s: float = float("inf"),
    ) -> None:
        self.id = sub_id
        self.principal = principal
        self._send = send
        self.outbox = outbox
        self.subs: set[Key] = set()
        self.last_seq: dict[Key, int] = {}
        self.held: dict[Key, list[tuple[int, str]]] = {}  # live updates held during a replay
        self.sent = 0
        self.connected_at = time.monotonic()
        self.last_sent_at = self.connected_at
        self.max_age_s = max_age_s * (1 - AGE_JITTER * random.random())
        self.close_code: int | None = None
        self.close_reason = ""
        self._closing = False
        self._stopped = False  # tear the session down now, nothing more is sent
        self.failed = False  # a write raised: the peer is gone, no close frame is owed
        # Called when the credential behind this connection changes under it (its API
        # key's entitlements or limits were edited); the session re-checks its subscriptions.
        self.on_principal: Callable[[Principal], None] | None = None
        self.throttle: Throttle | None = None  # channel `trades`: frames per symbol per second
        self._on_end: Callable[[], None] | None = None  # set by start(): the session's hook
        self._sender: asyncio.Task[None] | None = None  # the writer, while there is work
        self._waiter: asyncio.Future[None] | None = None  # run()'s wake-up, while idle
        self._room: asyncio.Event | None = None  # replays waiting for the outbox to shrink
        self._write_now: WriteNow | None = None

    # --- queueing (event loop only) ---
    def send(self, text: str) -> None:
        """An ordered frame: replies, errors, replays, alerts."""
        if self._closing:
            return
        self.outbox.put(text)
        self._kick()
        self._check()

    def offer(self, key: Key, seq: int, text: str) -> None:
        """A live update; ignored unless newer than what this client has for `key`."""
        if self._closing:
            return
        held = self.held.get(key)
        if held is not None:
            held.append((seq, text))
            return
        if seq <= self.last_seq.get(key, -1):
            return
        self.last_seq[key] = seq
        self.outbox.put_update(key, seq, text)
        self._kick()
        self._check()

    def _check(self) -> None:
        # Frames behind is checked on every frame (O(1)); age once a second in Hub.sweep.
        box = self.outbox
        if box.behind > box.max_lag_frames:
            self.close(CLOSE_TOO_SLOW, f"too slow: {box.overdue()}", flush=False)

    # --- replays (`since`) ---
    def hold(self, key: Key) -> None:
        self.held.setdefault(key, [])

    def release(self, key: Key) -> None:
        """End of a replay: live updates that arrived meanwhile follow, in order, once each."""
        for seq, text in sorted(self.held.pop(key, []), key=lambda x: x[0]):
            if seq > self.last_seq.get(key, -1):
                self.last_seq[key] = seq
                self.send(text)

    async def wait_room(self) -> None:
        """Replays wait here so a long history never overflows the outbox."""
        while len(self.outbox) >= self.outbox.soft_limit and not self._closing:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def _has_room(self) -> None:
        if self._room is not None:
            self._room.set()

    # --- closing ---
    def close(self, code: int, reason: str, *, flush: bool) -> None:
        """End the connection with `code`; `flush` lets queued frames go out first."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            if code == CLOSE_TOO_SLOW:
                _log.warning("dropping slow client", extra={"client": self.id, "error": reason})
        self._closing = True
        self._has_room()
        if not flush:
            self.outbox.clear()
            self._stopped = True
            self._wake()
            self._end()
            return
        self._kick()

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def stopped(self) -> bool:
        return self._stopped

    # --- the sender ---
    def start(self, on_end: Callable[[], None], write_now: WriteNow | None = None) -> None:
        """Write lazily from now on: a sender task exists only while frames wait.
        `on_end` is called once, when the session should end: stopped, flushed
        after a close, or a write failed (`failed`). With `write_now`, frames for
        a client that keeps up are written in the caller's turn of the loop (the
        hub's fan-out), like websockets.broadcast; only a socket that pushes back
        gets a sender task, which waits for it."""
        self._on_end = on_end
        self._write_now = write_now
        self._kick()

    def detach(self) -> None:
        """The session is over: no more callbacks, and a write in flight is abandoned."""
        self._on_end = None
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None

    def _end(self) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end()

    def _kick(self) -> None:
        """Something to write (or a close to finish): make sure a writer will see it."""
        self._wake()
        if self._on_end is None or self._sender is not None or self._stopped:
            return  # not started (run() drives it), or a writer is already on it
        if len(self.outbox) and not self._write_through():
            self._sender = asyncio.get_running_loop().create_task(self._drain())
        elif self._closing:
            self._end()  # flushed already

    def _write_through(self) -> bool:
        """Write what is queued now, in order, while the socket takes it without
        waiting; True when nothing is left. Only with no sender running (checked
        by the caller), so nothing is in flight ahead of these frames."""
        write, box = self._write_now, self.outbox
        if write is None:
            return False
        while (entry := box.peek()) is not None:
            if not write(entry.text):
                return False  # pushed back (or closing): the sender task waits for it
            box.pop()  # the entry peeked above
            box.sent(entry)
            self.sent += 1
        self.last_sent_at = time.monotonic()
        self._has_room()
        if self._closing:
            self._end()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _drain(self) -> None:
        """The lazy sender: write what is queued, then end (the next frame starts another)."""
        try:
            await self._write_pending()
        except Exception:
            # The peer is gone (uvicorn raises ClientDisconnected): end without a close frame.
            self.failed = True
            self._sender = None
            self._end()
            return
        self._sender = None
        if self._closing:
            self._end()

    async def _write_pending(self) -> None:
        box = self.outbox
        low = max(1, box.soft_limit // 2)
        while not self._stopped and (entry := box.pop()) is not None:
            await self._send(entry.text)
            box.sent(entry)
            self.sent += 1
            self.last_sent_at = time.monotonic()
            if len(box) < low:
                self._has_room()
        self._has_room()

    async def run(self) -> None:
        """A long-lived sender (tests, and callers that do not `start()`): the only
        writer to this client's socket until it is stopped or flushed after a close."""
        while not self._stopped:
            await self._write_pending()
            if self._closing or self._stopped:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


@dataclass
class _Feed:
    last: int | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    filling: bool = False


class Hub:
    def __init__(
        self,
        history: HistoryReader | None = None,
        heartbeat_s: float = 15.0,
        trades_rate: float = DEFAULT_RATE,
    ) -> None:
        self._history = history
        self.heartbeat_s = heartbeat_s
        self.trades_rate = trades_rate
        self.book = Book()  # channel `trades`: last trade and best quote per symbol
        self.trade_updates = 0
        self.subscribers: dict[str, Subscriber] = {}
        self.by_key: dict[Key, set[Subscriber]] = {}
        self.by_api_key: dict[str, set[Subscriber]] = {}  # key_id -> its open connections
        self.latest: dict[str, dict[str, Any]] = {}  # symbol -> latest symbols/{SYM} doc
        self.updates = 0
        self.filled = 0  # updates published from history to close a hole
        self.fill_errors = 0
        self.slow_drops = 0
        self._feeds: dict[str, _Feed] = {}
        self._alert_marks: dict[str, tuple[int, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- membership ---
    def add(self, s: Subscriber) -> None:
        self.subscribers[s.id] = s
        if s.principal.key_id is not None:
            self.by_api_key.setdefault(s.principal.key_id, set()).add(s)

    def remove(self, s: Subscriber) -> None:
        if s.close_code == CLOSE_TOO_SLOW:
            self.slow_drops += 1
        self.subscribers.pop(s.id, None)
        key_id = s.principal.key_id
        if key_id is not None and key_id in self.by_api_key:
            self.by_api_key[key_id].discard(s)
            if not self.by_api_key[key_id]:
                del self.by_api_key[key_id]
        for key in s.subs:
            self._discard(key, s)
        s.subs.clear()

    def subscribe(self, s: Subscriber, key: Key) -> None:
        s.subs.add(key)
        self.by_key.setdefault(key, set()).add(s)

    def unsubscribe(self, s: Subscriber, key: Key) -> None:
        if key[0] == TRADES and s.throttle is not None:
            s.throttle.forget(key[1])
        s.subs.discard(key)
        s.last_seq.pop(key, None)
        s.held.pop(key, None)
        self._discard(key, s)

    def _discard(self, key: Key, s: Subscriber) -> None:
        subs = self.by_key.get(key)
        if subs is not None:
            subs.discard(s)
            if not subs:
                del self.by_key[key]

    @property
    def subscriptions(self) -> int:
        return sum(len(s.subs) for s in self.subscribers.values())

    # --- symbols/{SYM}: order, fill holes, publish ---
    def on_symbol_doc(self, doc: dict[str, Any]) -> None:
        symbol, seq = doc.get("symbol"), doc.get("seq")
        if not isinstance(symbol, str) or not isinstance(seq, int):
            return
        doc = client_doc(doc)  # the cache behind snapshots, REST and answers holds only this
        feed = self._feeds.setdefault(symbol, _Feed())
        if feed.filling:
            feed.pending.append(doc)
            return
        if feed.last is not None and seq <= feed.last:
            return  # a redelivery, or a restarted listener's first snapshot
        if feed.last is None or self._history is None or seq - feed.last <= _step_ms(doc):
            feed.last = seq
            self._publish(doc)
            return
        feed.filling = True
        feed.pending.append(doc)
        task = asyncio.get_running_loop().create_task(self._fill(symbol, feed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, symbol: str, feed: _Feed) -> None:
        assert self._history is not None
        try:
            while feed.pending:
                batch, feed.pending = feed.pending, []
                last = feed.last if feed.last is not None else -1
                newest = max(batch, key=lambda d: int(d["seq"]))
                found: dict[int, dict[str, Any]] = {}
                if int(newest["seq"]) - last > _step_ms(newest):
                    try:
                        got = await self._history(symbol, last, int(newest["seq"]), FILL_MAX)
                    except Exception as exc:  # Firestore unavailable: publish what we have
                        self.fill_errors += 1
                        _log.warning(
                            "history fill failed", extra={"symbol": symbol, "error": str(exc)}
                        )
                        got = []
                    found = {d["seq"]: client_doc(d) for d in got if isinstance(d.get("seq"), int)}
                arrived = {int(d["seq"]): d for d in batch}
                self.filled += len(found.keys() - arrived.keys())
                found.update(arrived)
                for seq in sorted(s for s in found if s > last):
                    feed.last = seq
                    self._publish(found[seq])
        finally:
            feed.filling = False

    def _publish(self, doc: dict[str, Any]) -> None:
        symbol, seq = doc["symbol"], doc["seq"]
        current = self.latest.get(symbol)
        if current is None or seq >= current["seq"]:
            self.latest[symbol] = doc
        self.updates += 1
        trace = doc.get("trace")
        if not isinstance(trace, dict):
            trace = doc["trace"] = {}
        trace["bridge"] = time.time_ns()
        for channel in ("predictions", "bars"):
            subs = self.by_key.get((channel, symbol))
            if subs:
                text = bar_frame(doc) if channel == "bars" else prediction_frame(doc)
                for s in list(subs):
                    s.offer((channel, symbol), seq, text)

    # --- alerts/{SYM}-{seq}-{kind}: events, never conflated ---
    def on_alert(self, doc_id: str, doc: dict[str, Any]) -> None:
        symbol, seq = doc.get("symbol"), doc.get("seq")
        if not isinstance(symbol, str) or not isinstance(seq, int):
            return
        mark = (seq, doc_id)
        if mark <= self._alert_marks.get(symbol, (-1, "")):
            return  # already sent (a restarted listener replays the whole collection)
        self._alert_marks[symbol] = mark
        subs = self.by_key.get(("alerts", symbol))
        if subs:
            text = frame(
                "alert", channel="alerts", symbol=symbol, seq=seq, id=doc_id, data=alert_data(doc)
            )
            for s in list(subs):
                s.send(text)

    # --- tickcast-ticks: last trade and best quote, at most trades_rate per client/symbol ---
    def on_ticks(self, msg: TicksMessage) -> None:
        q = self.book.apply(msg)
        if q is None:
            return
        self.trade_updates += 1
        key = (TRADES, q.symbol)
        subs = self.by_key.get(key)
        if not subs:
            return
        now = time.monotonic()
        for s in list(subs):
            if s.throttle is None:
                s.throttle = Throttle(self.trades_rate)
            delay = s.throttle.admit(q.symbol, now)
            if delay is None:
                s.offer(key, q.seq, q.text)
            elif delay > 0:
                asyncio.get_running_loop().call_later(delay, self._flush_trade, s, q.symbol)

    def _flush_trade(self, s: Subscriber, symbol: str) -> None:
        """The end of a client's interval for `symbol`: the latest state, once."""
        if s.throttle is None or symbol not in s.throttle.pending:
            return  # unsubscribed meanwhile (forget)
        s.throttle.fired(symbol, time.monotonic())
        key = (TRADES, symbol)
        q = self.book.symbols.get(symbol)
        if q is not None and key in s.subs and not s.closing:
            s.offer(key, q.seq, q.text)

    def trade_snapshot(self, s: Subscriber, symbol: str) -> None:
        """On subscribe: the current state, if any and newer than what the client has."""
        q = self.book.symbols.get(symbol)
        key = (TRADES, symbol)
        if q is None or q.seq <= s.last_seq.get(key, -1):
            return
        s.last_seq[key] = q.seq
        if s.throttle is None:
            s.throttle = Throttle(self.trades_rate)
        s.throttle.admit(symbol, time.monotonic())
        s.send(trade_frame(q, "snapshot"))

    # --- housekeeping, once a second ---
    def sweep(self) -> None:
        """Drop laggards, end expired or aged connections, heartbeat idle ones."""
        now, wall = time.monotonic(), time.time()
        beat: str | None = None
        for s in list(self.subscribers.values()):
            if s.closing:
                continue
            reason = s.outbox.overdue()
            if reason is not None:
                s.close(CLOSE_TOO_SLOW, f"too slow: {reason}", flush=False)
            elif s.principal.expired(wall):
                s.send(error_frame("token_expired", "the token expired: reconnect with a new one"))
                s.close(CLOSE_UNAUTHORIZED, "token expired", flush=True)
            elif now - s.connected_at >= s.max_age_s:
                s.close(CLOSE_GOING_AWAY, "connection age limit: reconnect with since", flush=True)
            elif not len(s.outbox) and now - s.last_sent_at >= self.heartbeat_s:
                beat = beat or frame("heartbeat", t=int(wall * 1000))
                s.send(beat)

    def close_key(self, key_id: str, code: str, message: str) -> int:
        """A revoked or deleted API key: its open connections end now."""
        n = 0
        for s in list(self.by_api_key.get(key_id, ())):
            if not s.closing:
                s.send(error_frame(code, message))
                s.close(CLOSE_UNAUTHORIZED, message, flush=True)
                n += 1
        return n

    def key_changed(self, key_id: str, principal: Principal) -> int:
        """An API key's entitlements or limits were edited: its connections re-check."""
        n = 0
        for s in list(self.by_api_key.get(key_id, ())):
            if not s.closing and s.on_principal is not None:
                s.on_principal(principal)
                n += 1
        return n

    def close_all(self, code: int, reason: str, *, flush: bool) -> None:
        for s in list(self.subscribers.values()):
            s.close(code, reason, flush=flush)


def _step_ms(doc: dict[str, Any]) -> int:
    interval = doc.get("interval_s")
    return int(interval * 1000) if isinstance(interval, int | float) and interval > 0 else 0


def prediction_frame(doc: dict[str, Any], type_: str = "prediction", **extra: Any) -> str:
    return frame(
        type_,
        channel="predictions",
        symbol=doc["symbol"],
        seq=doc["seq"],
        data=client_doc(doc),
        **extra,
    )


def bar_frame(doc: dict[str, Any], type_: str = "bar", **extra: Any) -> str:
    return frame(
        type_, channel="bars", symbol=doc["symbol"], seq=doc["seq"], data=bar_data(doc), **extra
    )
