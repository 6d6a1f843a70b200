"""One WebSocket connection: origin, authentication, admission, then the
connection's own task reads client messages until the client leaves or the
subscriber ends the session.

The reader never writes to the socket; every frame goes through the
subscriber's outbox, so its sender task (one exists only while frames wait) is
the socket's only writer and a client that stops reading only ever blocks its
own sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import WebSocket

from tickcast import __version__, log
from tickcast.bridge import history
from tickcast.bridge.admission import TokenBucket
from tickcast.bridge.auth import AuthError
from tickcast.bridge.hub import Subscriber, bar_frame, prediction_frame
from tickcast.bridge.leanws import WRITE_NOW
from tickcast.bridge.options import NOT_SERVED, answer_options
from tickcast.bridge.origins import origin_allowed
from tickcast.bridge.outbox import Key, Outbox
from tickcast.bridge.principal import Principal
from tickcast.bridge.protocol import (
    CHANNELS,
    CLOSE_RESTART,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
    MAX_SYMBOLS_PER_MESSAGE,
    Auth,
    Ping,
    ProtocolError,
    RequestPrediction,
    Subscribe,
    Unsubscribe,
    error_frame,
    frame,
    parse,
)
from tickcast.bridge.runtime import Bridge

_log = log.get("bridge")

CLOSE_WAIT_S = 1.0  # a close frame that cannot be written in this long is abandoned
ORIGIN_REFUSED = 1008  # before accept: uvicorn answers the handshake with HTTP 403


def _text(message: Mapping[str, Any]) -> str:
    text = message.get("text")
    if text is not None:
        return str(text)
    return bytes(message.get("bytes") or b"").decode("utf-8", "replace")


def _consume(task: asyncio.Task[Any]) -> BaseException | None:
    """A finished task's exception, marked as retrieved (no 'never retrieved' noise)."""
    if task.cancelled() or not task.done():
        return None
    return task.exception()


class Session:
    # Slots, and what only replays need made on the first replay: one of these per
    # connection, and most connections never replay.
    __slots__ = ("_bucket", "_reads", "_replay_budget", "_replays", "b", "cfg", "ws")

    def __init__(self, bridge: Bridge, ws: WebSocket) -> None:
        self.b = bridge
        self.cfg = bridge.cfg
        self.ws = ws
        self._replays: dict[Key, asyncio.Task[None]] = {}
        self._bucket: TokenBucket | None = None  # the principal's message rate, once admitted
        self._replay_budget: TokenBucket | None = None  # made full on the first replay
        # A connection's pages queue behind each other, not behind other connections'.
        self._reads: asyncio.Semaphore | None = None

    # --- connection lifecycle ---
    async def run(self) -> None:
        ws, b = self.ws, self.b
        if not origin_allowed(
            ws.headers.get("origin"), ws.headers.get("host"), self.cfg.ws_allowed_origins
        ):
            b.metrics.rejections.labels("origin").inc()
            await ws.close(code=ORIGIN_REFUSED)
            return
        await ws.accept()
        if b.drainer.draining:
            await self._refuse(CLOSE_RESTART, "draining", "this instance is shutting down")
            return
        principal = await self._authenticate()
        if principal is None:
            return
        if not b.admission.connect(principal):
            await self._refuse(
                CLOSE_TOO_MANY,
                "too_many_connections",
                f"at most {principal.limits.max_connections} connections for this credential",
            )
            return
        sub = Subscriber(
            b.next_id(),
            principal,
            ws.send_text,
            Outbox(self.cfg.ws_queue_size, self.cfg.ws_max_lag_frames, self.cfg.ws_max_lag_s),
            max_age_s=self.cfg.ws_max_connection_s,
        )
        self._bucket = TokenBucket(principal.limits.messages_per_second)
        sub.on_principal = lambda fresh: self._apply(sub, fresh)
        b.hub.add(sub)
        b.metrics.connections.inc()
        # One line per accepted connection: a log-based metric counts them (Terraform).
        _log.info("client connected", extra={"client": sub.id, "principal": principal.id})
        try:
            await self._serve(sub)
        finally:
            b.admission.disconnect(principal, len(sub.subs))
            b.hub.remove(sub)
            b.metrics.connections.dec()
            _log.info(
                "client disconnected",
                extra={
                    "client": sub.id,
                    "code": sub.close_code,
                    "reason": sub.close_reason,
                    "sent": sub.sent,
                    "conflated": sub.outbox.conflated,
                },
            )

    async def _serve(self, sub: Subscriber) -> None:
        sub.send(
            frame(
                "welcome",
                server="tickcast",
                version=__version__,
                channels=[c for c in CHANNELS if c != "trades" or self.b.trades_on],
                max_symbols_per_message=MAX_SYMBOLS_PER_MESSAGE,
                auth=sub.principal.describe(),
                heartbeat_s=self.cfg.ws_heartbeat_s,
            )
        )
        # This task reads; the subscriber writes with a task of its own only while it
        # has frames. When the subscriber ends the session (stopped, flushed after a
        # close, a failed write) it cancels this task's read: one task per idle
        # connection instead of three (reader, sender, stop signal) plus asyncio.wait's.
        me = asyncio.current_task()
        assert me is not None
        ended = False

        def end() -> None:
            nonlocal ended
            ended = True
            me.cancel()

        # uvicorn with leanws.LeanWebSocketProtocol (serve.py) offers a synchronous write.
        sub.start(end, self.ws.scope.get("extensions", {}).get(WRITE_NOW))
        try:
            await self._read(sub)
            gone = True  # the client disconnected
        except asyncio.CancelledError:
            # Ours (end) or someone else's too (server shutdown): only ours is swallowed.
            if not ended or me.uncancel() > 0:
                raise
            gone = sub.failed
        finally:
            # Cancel without awaiting: this task may itself be cancelled (server
            # shutdown), and a cleanup that awaits would swallow or re-raise that.
            sub.detach()
            for t in self._replays.values():
                t.cancel()
                t.add_done_callback(_consume)
        if sub.close_code is not None and not gone:
            self.b.metrics.closes.labels(str(sub.close_code)).inc()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.ws.close(code=sub.close_code, reason=sub.close_reason[:120]),
                    CLOSE_WAIT_S,
                )

    async def _refuse(self, code: int, error: str, message: str) -> None:
        self.b.metrics.rejections.labels(error).inc()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.send_text(error_frame(error, message)), CLOSE_WAIT_S)
            await asyncio.wait_for(self.ws.close(code=code, reason=error), CLOSE_WAIT_S)

    # --- authentication: ?token= or a first {"type":"auth"} message ---
    async def _authenticate(self) -> Principal | None:
        token = self.ws.query_params.get("token")
        if token is None and self.cfg.ws_allow_unauthenticated:
            return self.b.local_principal
        if token is None:
            try:
                message = await asyncio.wait_for(self.ws.receive(), self.cfg.ws_auth_deadline_s)
            except TimeoutError:
                await self._refuse(
                    CLOSE_UNAUTHORIZED,
                    "unauthorized",
                    f"send {{type: 'auth', token}} within {self.cfg.ws_auth_deadline_s:g} s",
                )
                return None
            if message["type"] == "websocket.disconnect":
                return None
            text = _text(message)
            try:
                msg = None if len(text) > self.cfg.ws_max_frame_bytes else parse(text)
            except ProtocolError:
                msg = None
            if not isinstance(msg, Auth):
                await self._refuse(
                    CLOSE_UNAUTHORIZED,
                    "unauthorized",
                    "credentials required: ?token= or a first message {type: 'auth', token}",
                )
                return None
            token = msg.token
        try:
            return await self.b.auth.authenticate(token)
        except AuthError as exc:
            await self._refuse(CLOSE_UNAUTHORIZED, exc.code, exc.message)
            return None

    # --- client messages ---
    async def _read(self, sub: Subscriber) -> None:
        refused_in_a_row = 0
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if sub.closing:
                continue  # closing: drain the socket, act on nothing
            bucket = self._bucket  # re-authentication may replace its rate
            assert bucket is not None  # set before the first read
            if not bucket.take():
                refused_in_a_row += 1
                self.b.metrics.frames.labels("rate_limited").inc()
                rate = sub.principal.limits.messages_per_second
                sub.send(
                    error_frame("rate_limited", f"at most {rate:g} messages per second: ignored")
                )
                # A client that keeps flooding after a full second's worth of refusals is cut off.
                if refused_in_a_row > bucket.capacity:
                    sub.close(CLOSE_TOO_MANY, "rate limit exceeded", flush=True)
                continue
            refused_in_a_row = 0
            await self._dispatch(sub, _text(message))

    async def _dispatch(self, sub: Subscriber, text: str) -> None:
        if len(text.encode()) > self.cfg.ws_max_frame_bytes:
            self.b.metrics.frames.labels("too_large").inc()
            sub.send(
                error_frame(
                    "frame_too_large", f"frames are limited to {self.cfg.ws_max_frame_bytes} bytes"
                )
            )
            return
        try:
            msg = parse(text)
        except ProtocolError as exc:
            self.b.metrics.frames.labels(exc.code).inc()
            sub.send(error_frame(exc.code, exc.message))
            return
        self.b.metrics.frames.labels("ok").inc()
        if isinstance(msg, Subscribe):
            self._subscribe(sub, msg)
        elif isinstance(msg, Unsubscribe):
            self._unsubscribe(sub, msg)
        elif isinstance(msg, Ping):
            sub.send(frame("pong", id=msg.id, t=time.time_ns() // 1_000_000))
        elif isinstance(msg, RequestPrediction):
            sub.send(self._answer(sub, msg))
        elif isinstance(msg, Auth):
            await self._reauthenticate(sub, msg.token)

    def _subscribe(self, sub: Subscriber, msg: Subscribe) -> None:
        symbols = msg.symbol_list
        if msg.channel == "trades" and not self.b.trades_on:
            sub.send(
                error_frame(
                    "invalid_message",
                    "channel: 'trades' is off on this bridge (no Pub/Sub, or TICKCAST_WS_TRADES=false)",
                )
            )
            return
        refused = sub.principal.forbidden(symbols)
        if refused:
            sub.send(error_frame("forbidden", f"not entitled to: {', '.join(refused)}"))
            return
        keys = [(msg.channel, s) for s in symbols]
        new = [k for k in keys if k not in sub.subs]
        if not self.b.admission.subscribe(sub.principal, len(new)):
            sub.send(
                error_frame(
                    "too_many_subscriptions",
                    f"at most {sub.principal.limits.max_subscriptions} subscriptions "
                    "for this credential",
                )
            )
            return
        sub.send(frame("subscribed", channel=msg.channel, symbols=symbols))
        render = bar_frame if msg.channel == "bars" else prediction_frame
        for key in keys:
            self.b.hub.subscribe(sub, key)
            if msg.channel == "alerts":
                continue
            if msg.channel == "trades":  # live only: `since` does not apply
                self.b.hub.trade_snapshot(sub, key[1])
                continue
            since = (msg.since or {}).get(key[1])
            if since is None:
                doc = self.b.hub.latest.get(key[1])
                if doc is not None and doc["seq"] > sub.last_seq.get(key, -1):
                    sub.last_seq[key] = doc["seq"]
                    sub.send(render(doc, "snapshot"))
                continue
            # Live updates wait while history is read, then only newer ones follow:
            # no gap, no duplicate.
            previous = self._replays.pop(key, None)
            if previous is not None:
                previous.cancel()
            sub.hold(key)
            sub.last_seq[key] = since
            self._replays[key] = asyncio.create_task(self._replay(sub, key, since, render))

    async def _replay(
        self, sub: Subscriber, key: Key, since: int, render: Callable[..., str]
    ) -> None:
        symbol, cap = key[1], self.cfg.ws_replay_max
        cursor, sent = since, 0
        budgets, loop = self.b.replay, asyncio.get_running_loop()
        if self._replay_budget is None:
            self._replay_budget = budgets.connection()
        if self._reads is None:
            self._reads = asyncio.Semaphore(self.cfg.ws_replay_reads_per_connection)
        connection_budget, reads = self._replay_budget, self._reads
        try:
            while sent < cap:
                want = min(history.MAX_LIMIT, cap - sent)
                async with reads:  # a connection's pages queue behind each other only
                    page = min(want, budgets.available(connection_budget, sub.principal.id))
                    if page == 0:
                        self.b.metrics.rejections.labels("replay_budget_exceeded").inc()
                        sub.send(
                            error_frame(
                                "replay_budget_exceeded",
                                f"replayed {sent} updates of {symbol} after {since}: the replay "
                                f"budget ({budgets.limits.describe()}) is spent; live updates "
                                f"follow, resume the rest later",
                            )
                        )
                        return
                    docs = await loop.run_in_executor(
                        self.b.replays, self.b.source.history, symbol, cursor, None, page
                    )
                    budgets.spend(connection_budget, sub.principal.id, len(docs))
                for doc in docs:
                    await sub.wait_room()
                    if key not in sub.subs or sub.closing:
                        return
                    cursor = sub.last_seq[key] = int(doc["seq"])
                    sub.send(render(doc, replay=True))
                    sent += 1
                if len(docs) < page:
                    break
            else:
                sub.send(
                    error_frame(
                        "replay_truncated",
                        f"replayed {cap} updates after {since}; page older ones with "
                        f"GET /v1/symbols/{symbol}/predictions?after=",
                    )
                )
        except Exception as exc:  # history unavailable: say so, then go live
            _log.warning("replay failed", extra={"symbol": symbol, "error": str(exc)})
            sub.send(error_frame("replay_failed", "history is unavailable; live updates follow"))
        finally:
            if key in sub.subs:
                sub.release(key)
            if self._replays.get(key) is asyncio.current_task():
                del self._replays[key]

    def _unsubscribe(self, sub: Subscriber, msg: Unsubscribe) -> None:
        removed = 0
        for symbol in msg.symbol_list:
            key = (msg.channel, symbol)
            if key in sub.subs:
                self.b.hub.unsubscribe(sub, key)
                removed += 1
            task = self._replays.pop(key, None)
            if task is not None:
                task.cancel()
        self.b.admission.unsubscribe(sub.principal, removed)
        sub.send(frame("unsubscribed", channel=msg.channel, symbols=msg.symbol_list))

    def _answer(self, sub: Subscriber, msg: RequestPrediction) -> str:
        t0 = time.perf_counter_ns()
        if not sub.principal.may_read(msg.symbol):
            return error_frame("forbidden", f"not entitled to: {msg.symbol}")
        doc = self.b.hub.latest.get(msg.symbol)
        if doc is None:
            return error_frame("not_found", f"no prediction for {msg.symbol} yet")
        pred = doc.get("prediction")
        opts = msg.options
        options = answer_options(opts, doc)
        meets = (
            None
            if opts.confidence is None or pred is None
            else pred["confidence"] >= opts.confidence
        )
        return frame(
            "prediction_response",
            id=msg.id,
            symbol=msg.symbol,
            seq=doc["seq"],
            ready=doc.get("ready"),
            reason=doc.get("reason"),
            prediction=pred,
            meets_confidence=meets,
            options=options,
            notes=[a["reason"] for a in options.values() if a["status"] == NOT_SERVED],
            server_latency_us=(time.perf_counter_ns() - t0) // 1000,
        )

    async def _reauthenticate(self, sub: Subscriber, token: str) -> None:
        """A fresh token for the same identity (e.g. before a JWT expires). It replaces the
        old one entirely: entitlements, limits and expiry (see `_apply`)."""
        try:
            fresh = await self.b.auth.authenticate(token)
        except AuthError as exc:
            sub.send(error_frame(exc.code, exc.message))
            return
        if fresh.id != sub.principal.id:
            sub.send(
                error_frame(
                    "already_authenticated",
                    f"this connection is {sub.principal.name}; open another for {fresh.name}",
                )
            )
            return
        sub.send(frame("authenticated", **fresh.describe()))
        self._apply(sub, fresh)

    def _apply(self, sub: Subscriber, fresh: Principal) -> None:
        """The connection's credential is now `fresh`: every subscription is re-checked
        against its entitlements and subscription limit (dropped ones are announced with
        `unsubscribed` and a reason), and the message rate is its rate from now on."""
        sub.principal = fresh
        if self._bucket is not None:
            self._bucket.resize(fresh.limits.messages_per_second)
        gone = sorted(k for k in sub.subs if not fresh.may_read(k[1]))
        self._drop(sub, gone, "forbidden", "no longer entitled to these symbols")
        excess = self.b.admission.subscriptions[fresh.id] - fresh.limits.max_subscriptions
        if excess > 0:
            self._drop(
                sub,
                sorted(sub.subs)[-excess:],
                "too_many_subscriptions",
                f"at most {fresh.limits.max_subscriptions} subscriptions for this credential",
            )

    def _drop(self, sub: Subscriber, keys: list[Key], reason: str, message: str) -> None:
        if not keys:
            return
        by_channel: dict[str, list[str]] = {}
        for key in keys:
            self.b.hub.unsubscribe(sub, key)
            task = self._replays.pop(key, None)
            if task is not None:
                task.cancel()
            by_channel.setdefault(key[0], []).append(key[1])
        self.b.admission.unsubscribe(sub.principal, len(keys))
        for channel, symbols in by_channel.items():
            sub.send(
                frame(
                    "unsubscribed", channel=channel, symbols=symbols, reason=reason, message=message
                )
            )
