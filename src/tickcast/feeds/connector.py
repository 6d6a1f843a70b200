"""The long-running connector: vendor WebSocket -> bounded queue -> tickcast-raw.

Three tasks share one event loop:

- the reader holds the vendor socket: connect, authenticate, subscribe (the
  vendor module says how), then put every data frame, byte for byte, on a
  bounded queue. When the queue is full it waits, so it stops reading: the
  socket's buffers fill and the vendor sees a slow client, instead of this
  process buffering without bound. A dropped connection is reopened after an
  exponential backoff with full jitter and subscribed again; a refusal that a
  reconnect cannot fix (bad keys, no entitlement) stops the connector with
  exit code 3 after TICKCAST_FEED_FATAL_HOLD_S, rather than hammering the vendor;
- the publisher (publisher.py) publishes queued frames with the `format`
  attribute and an ordering key per symbol shard, retrying each until it is
  published;
- the watchdog marks the feed stale when no frame arrived for
  TICKCAST_FEED_STALE_S during the session.

SIGTERM (Cloud Run's stop) or SIGINT: stop reading, close the socket, publish
what is queued within TICKCAST_FEED_DRAIN_S, exit 0; exit 4 if frames were
left unpublished at the deadline (each is counted in the log line).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Callable
from typing import Any, Final

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server

from tickcast import log
from tickcast.feeds import health
from tickcast.feeds.alpaca import Alpaca
from tickcast.feeds.backoff import Backoff
from tickcast.feeds.metrics import FeedMetrics
from tickcast.feeds.polygon import Polygon
from tickcast.feeds.protocol import Fatal, Retry, Step, VendorProtocol, ordering_key
from tickcast.feeds.publisher import Client, Frame, FramePublisher
from tickcast.feeds.settings import FeedSettings, Vendor
from tickcast.ingest.filters import Session

EXIT_OK: Final = 0
EXIT_FATAL: Final = 3
EXIT_UNFLUSHED: Final = 4

_log = log.get("feeds")
PAUSE_LOG_EVERY_S: Final = 10.0


def _protocols() -> dict[Vendor, type[VendorProtocol]]:
    from tickcast.feeds.yahoo import Yahoo  # protobuf import only when Yahoo runs

    return {"alpaca": Alpaca, "polygon": Polygon, "yahoo": Yahoo}


class Connector:
    def __init__(
        self,
        cfg: FeedSettings,
        client: Client,
        topic_path: str,
        *,
        session: Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.feed_name
        self.vendor = _protocols()[cfg.vendor](cfg)
        self.session = session
        self.clock = clock
        self.wall_ns = wall_ns
        self.rng = rng or random.Random()
        self.metrics = FeedMetrics(self.name)
        self.queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=cfg.queue_frames)
        self.publisher = FramePublisher(
            client,
            topic_path,
            {"format": self.vendor.format, "feed": self.name},
            self.metrics,
            max_in_flight=cfg.max_in_flight,
            backoff_max_s=cfg.publish_backoff_max_s,
        )
        self.topic_path = topic_path
        self.started = clock()
        self.last_frame: float | None = None
        self.connected = False
        self.subscribed = False
        self.stale = False
        self.fatal: str | None = None
        self.connections = 0
        self.port: int | None = None
        self._stop = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._subscribed_at: float | None = None
        self._holding = 0
        self._paused_logged = -PAUSE_LOG_EVERY_S
        self._stale_logged = 0.0
        self._session_since = self.started
        self._in_session = True
        self.metrics.bind(self.seconds_since_last_frame, self.unpublished)

    # -- state -----------------------------------------------------------------------

    def _info(self, msg: str, **fields: Any) -> None:
        _log.info(msg, extra={"feed": self.name, **fields})

    def _warn(self, msg: str, **fields: Any) -> None:
        _log.warning(msg, extra={"feed": self.name, **fields})

    def seconds_since_last_frame(self) -> float:
        return self.clock() - (self.last_frame if self.last_frame is not None else self.started)

    def unpublished(self) -> float:
        return float(self.queue.qsize() + self.publisher.in_hand + self._holding)

    def readiness(self) -> tuple[bool, dict[str, object]]:
        ok = (
            self.connected
            and self.subscribed
            and not self.stale
            and self.fatal is None
            and not self._stop.is_set()
        )
        details: dict[str, object] = {
            "feed": self.name,
            "connected": self.connected,
            "subscribed": self.subscribed,
            "stale": self.stale,
            "seconds_since_last_frame": round(self.seconds_since_last_frame(), 3),
            "queued": int(self.unpublished()),
        }
        if self.fatal is not None:
            details["fatal"] = self.fatal
        if self._stop.is_set():
            details["stopping"] = True
        return ok, details

    def _set_connected(self, up: bool) -> None:
        self.connected = up
        self.metrics.connected.set(1 if up else 0)
        if not up:
            self.subscribed = False
            self.metrics.subscribed.set(0)

    # -- lifecycle -------------------------------------------------------------------

    def request_stop(self) -> None:
        """SIGTERM: stop reading, then flush the queue (run() does that)."""
        if self._stop.is_set():
            return
        self._info("stopping: flushing queued frames", queued=int(self.unpublished()))
        self._stop.set()
        if self._ws is not None:
            # Closing ends the reader's recv(); frames already read are in the queue.
            asyncio.get_running_loop().create_task(self._ws.close())

    async def run(self, host: str = "0.0.0.0", install_signals: bool = True) -> int:
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        server: Server = await health.start(
            host, self.cfg.port, self.readiness, self.metrics.registry
        )
        self.port = next(iter(server.sockets)).getsockname()[1]
        self._info(
            "feed starting",
            vendor=self.cfg.vendor,
            url=self.vendor.url(),
            symbols=len(self.cfg.symbols),
            channels=list(self.cfg.channel_list),
            shards=self.cfg.shards,
            topic=self.topic_path,
            port=self.port,
        )
        publisher = loop.create_task(self.publisher.run(self.queue), name="feed-publisher")
        watchdog = loop.create_task(self._watch_staleness(), name="feed-watchdog")
        for helper in (publisher, watchdog):
            helper.add_done_callback(self._crashed)
        reader = loop.create_task(self._read_forever(), name="feed-reader")
        stopper = loop.create_task(self._stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            code = await self._drain(reader)
            if code == EXIT_FATAL and self.cfg.fatal_hold_s > 0 and not self._stop.is_set():
                self._info("holding before exit", hold_s=self.cfg.fatal_hold_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.cfg.fatal_hold_s)
            return code
        finally:
            tasks: tuple[asyncio.Task[Any], ...] = (publisher, watchdog, reader, stopper)
            for t in tasks:
                t.cancel()
            for t in tasks:
                # A helper that failed was logged by _crashed; the reader's error, if any,
                # has already propagated from _drain.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            server.close()
            await server.wait_closed()
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    def _crashed(self, task: asyncio.Task[Any]) -> None:
        """A helper task must not die silently: the queue would fill and reading stop forever."""
        if task.cancelled() or task.exception() is None:
            return
        _log.critical(
            "feed task failed; stopping",
            exc_info=task.exception(),
            extra={"feed": self.name, "task": task.get_name()},
        )
        self.request_stop()

    async def _drain(self, reader: asyncio.Task[int]) -> int:
        try:
            async with asyncio.timeout(self.cfg.drain_s):
                code = await reader
                await self.queue.join()
        except TimeoutError:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            lost = int(self.unpublished())
            _log.error(
                "stopped with frames unpublished",
                extra={"feed": self.name, "unpublished": lost, "drain_s": self.cfg.drain_s},
            )
            return EXIT_FATAL if self.fatal is not None else EXIT_UNFLUSHED
        self._info("stopped", exit_code=code, published=self.publisher.published)
        return code

    # -- the reader --------------------------------------------------------------------

    async def _read_forever(self) -> int:
        backoff = Backoff(self.cfg.backoff_min_s, self.cfg.backoff_max_s, rng=self.rng)
        while not self._stop.is_set():
            floor = 0.0
            detail = ""
            self._subscribed_at = None
            try:
                await self._connection()
                reason = "closed"
            except Fatal as exc:
                return self._fatal(exc.reason, exc.detail)
            except Retry as exc:
                reason, detail, floor = exc.reason, exc.detail, exc.min_delay_s
            except websockets.InvalidStatus as exc:
                status = exc.response.status_code
                if 400 <= status < 500 and status not in (408, 429):
                    return self._fatal(f"http_{status}", f"the vendor refused the handshake: {exc}")
                reason, detail = f"http_{status}", str(exc)
                floor = self.cfg.limit_backoff_s if status == 429 else 0.0
            except websockets.InvalidURI as exc:
                return self._fatal("invalid_url", str(exc))
            except websockets.ConnectionClosed as exc:
                rcvd = exc.rcvd
                reason = f"closed_{rcvd.code}" if rcvd is not None else "closed_abnormally"
                detail = rcvd.reason if rcvd is not None else ""
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                reason, detail = type(exc).__name__, str(exc)
            finally:
                self._ws = None
                self._set_connected(False)
            if self._stop.is_set():
                break
            if (
                self._subscribed_at is not None
                and self.clock() - self._subscribed_at >= self.cfg.backoff_reset_s
            ):
                backoff.reset()
            delay = backoff.next(floor)
            self.metrics.reconnect(reason)
            self._warn(
                "reconnecting",
                reason=reason,
                detail=detail[:300],
                delay_s=round(delay, 3),
                attempt=backoff.attempt,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        return EXIT_OK

    def _fatal(self, reason: str, detail: str) -> int:
        self.fatal = f"{reason}: {detail}"
        _log.critical(
            "feed stopped: the vendor refused",
            extra={"feed": self.name, "reason": reason, "detail": detail[:500]},
        )
        return EXIT_FATAL

    async def _connection(self) -> None:
        first = self.vendor.start()
        async with connect(
            self.vendor.url(),
            additional_headers=self.vendor.headers() or None,
            user_agent_header="tickcast-feed",
            open_timeout=self.cfg.handshake_timeout_s,
            ping_interval=self.cfg.ping_interval_s,
            ping_timeout=self.cfg.ping_timeout_s,
            close_timeout=2,
            max_size=self.cfg.max_frame_bytes,
            # websockets' own receive buffer, in frames: small, the queue is the buffer.
            max_queue=16,
        ) as ws:
            self._ws = ws
            self.connections += 1
            self._set_connected(True)
            self._info("connected", url=self.vendor.url(), connection=self.connections)
            if self._stop.is_set():
                return
            keepalive: asyncio.Task[None] | None = None
            try:
                await self._apply(ws, first)
                deadline = self.clock() + self.cfg.handshake_timeout_s
                while True:
                    if self.subscribed:
                        if keepalive is None and self.vendor.keepalive_s > 0:
                            keepalive = asyncio.create_task(self._keepalive(ws))
                        raw = await ws.recv(decode=False)
                    else:
                        remaining = deadline - self.clock()
                        try:
                            if remaining <= 0:
                                raise TimeoutError
                            raw = await asyncio.wait_for(ws.recv(decode=False), remaining)
                        except TimeoutError:
                            raise Retry(
                                "handshake_timeout",
                                f"not subscribed within {self.cfg.handshake_timeout_s:g} s",
                            ) from None
                    await self._apply(ws, self.vendor.receive(raw))
            finally:
                if keepalive is not None:
                    keepalive.cancel()

    async def _keepalive(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.vendor.keepalive_s)
            for m in self.vendor.keepalive():
                await ws.send(m)

    async def _apply(self, ws: ClientConnection, step: Step) -> None:
        if step.control:
            self.metrics.control(step.control)
        if step.note:
            self._warn("vendor message", note=step.note[:500])
        for m in step.send:
            await ws.send(m)
        if step.ready and not self.subscribed:
            self.subscribed = True
            self._subscribed_at = self.clock()
            self.metrics.subscribed.set(1)
            self._info(
                "subscribed",
                symbols=len(self.cfg.symbols),
                channels=list(self.cfg.channel_list),
                connection=self.connections,
            )
        if step.frame is not None:
            await self._enqueue(step.frame, step.symbols)

    async def _enqueue(self, data: bytes, symbols: tuple[str, ...]) -> None:
        now = self.clock()
        key, mixed = ordering_key(self.name, symbols, self.cfg.shards)
        if mixed:
            self.metrics.cross_shard.inc()
        self.metrics.frames_in.inc()
        self.last_frame = now
        if self.stale:
            self._set_stale(False, now)
        frame = Frame(data, key, now)
        if not self.queue.full():
            self.queue.put_nowait(frame)
            return
        if now - self._paused_logged >= PAUSE_LOG_EVERY_S:
            self._paused_logged = now
            self._warn(
                "queue full: reading paused until the publisher catches up",
                queued=int(self.unpublished()),
            )
        self._holding = 1
        try:
            await self.queue.put(frame)
        finally:
            self._holding = 0
            self.metrics.reader_paused.inc(self.clock() - now)

    # -- staleness ---------------------------------------------------------------------

    async def _watch_staleness(self) -> None:
        period = min(1.0, self.cfg.stale_s / 4)
        while True:
            await asyncio.sleep(period)
            self.check_stale()

    def check_stale(self) -> None:
        now = self.clock()
        in_session = self.session is None or self.session.contains(self.wall_ns())
        if in_session and not self._in_session:
            self._session_since = now  # a session opening after a quiet night is not stale yet
        self._in_session = in_session
        base = max(self.last_frame or self.started, self._session_since)
        idle = now - base
        stale = in_session and idle >= self.cfg.stale_s
        if stale and (not self.stale or now - self._stale_logged >= self.cfg.stale_s):
            # Repeated every TICKCAST_FEED_STALE_S while it lasts: the log-based alert
            # stays open as long as the condition does.
            self._stale_logged = now
            self._warn(
                "stale feed",
                idle_s=round(idle, 3),
                stale_s=self.cfg.stale_s,
                connected=self.connected,
                subscribed=self.subscribed,
            )
        if stale != self.stale:
            self._set_stale(stale, now)

    def _set_stale(self, stale: bool, now: float) -> None:
        self.stale = stale
        self.metrics.stale.set(1 if stale else 0)
        if not stale:
            self._info("feed fresh again")
