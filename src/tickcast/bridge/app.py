"""The ws_bridge ASGI app: WebSocket at /ws, REST reads, health, metrics, dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest

from tickcast import __version__, clients, log
from tickcast.bridge import history, history_stream
from tickcast.bridge.apikeys import COLLECTION as API_KEYS
from tickcast.bridge.auth import AuthError, KeyEvents
from tickcast.bridge.counted import CountedSession
from tickcast.bridge.drain import RESTART_REASON, on_sigterm
from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.opstats import (
    MODEL_REFRESH_S,
    LiveModel,
    ModelReader,
    StatsWindow,
    live_model_id,
    model_reader,
)
from tickcast.bridge.opstats import health as health_report
from tickcast.bridge.pages import install as install_pages
from tickcast.bridge.principal import Principal
from tickcast.bridge.protocol import CLOSE_RESTART, client_symbol
from tickcast.bridge.recent_alerts import RecentAlerts
from tickcast.bridge.runtime import Bridge
from tickcast.bridge.source import Change, FirestoreSource, GroupSource, Since, Source
from tickcast.bridge.view import client_doc
from tickcast.bridge.watchdog import Watchdog
from tickcast.config import Settings, settings
from tickcast.predict.store import SYMBOLS

_log = log.get("bridge")

ALERTS = "alerts"
SWEEP_S = 1.0


class _RedactTokens(logging.Filter):
    """uvicorn logs each WebSocket's path with its query string: keep `?token=` out of logs."""

    _token = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._token.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._token.sub(r"\1[redacted]", record.msg)
        return True


def _redact_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())


async def request_principal(
    request: Request,
    token: Annotated[str | None, Query(description="API key or JWT (or use Authorization)")] = None,
) -> Principal:
    """REST reads need the same credentials as /ws, unless in local development."""
    b: Bridge = request.app.state.bridge
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    credential = bearer or token
    if credential is None:
        if b.cfg.ws_allow_unauthenticated:
            return b.local_principal
        b.metrics.rejections.labels("unauthorized").inc()
        raise HTTPException(401, "credentials required", headers={"WWW-Authenticate": "Bearer"})
    try:
        return await b.auth.authenticate(credential)
    except AuthError as exc:
        b.metrics.rejections.labels(exc.code).inc()
        raise HTTPException(
            401, f"{exc.code}: {exc.message}", headers={"WWW-Authenticate": "Bearer"}
        ) from None


Caller = Annotated[Principal, Depends(request_principal)]


def create_app(
    s: Settings | None = None,
    firestore_client: Any = None,
    *,
    source: Source | None = None,
    models: ModelReader | None = None,
) -> FastAPI:
    cfg = s or settings()
    log.configure(cfg.log_level)
    data: Source = source or FirestoreSource(
        lambda: firestore_client or clients.firestore_client(cfg.project_id)
    )
    b = Bridge.build(cfg, data)
    hub = b.hub
    ops = StatsWindow()
    live = LiveModel()
    read_model = models or model_reader(data)
    recent = RecentAlerts(b.alerts_window_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        _redact_server_logs()
        if cfg.ws_allow_unauthenticated:
            _log.warning(
                "unauthenticated WebSocket access is ON (TICKCAST_WS_ALLOW_UNAUTHENTICATED): "
                "local development only"
            )

        def on_symbols(batch: list[Change]) -> None:
            b.metrics.updates.inc(len(batch))
            for _id, doc in batch:
                if doc is not None:
                    before = hub.updates
                    hub.on_symbol_doc(doc)
                    if hub.updates > before:  # published now, not a redelivery
                        _observe(b, ops, hub.latest, doc)

        def on_alerts(batch: list[Change]) -> None:
            for doc_id, doc in batch:
                if doc is not None:  # None: deleted (TTL) or older than the window
                    hub.on_alert(doc_id, doc)
                    recent.add(doc_id, doc)

        def recent_alerts() -> Since:
            return ("created_at", int((time.time() - b.alerts_window_s) * 1000))

        b.listeners = [
            CollectionListener(data, SYMBOLS, on_symbols, loop, restart_when_silent=True),
            CollectionListener(
                data,
                ALERTS,
                on_alerts,
                loop,
                since=recent_alerts,
                max_age_s=b.alerts_window_s,
            ),
            CollectionListener(
                data,
                API_KEYS,
                lambda batch: _key_events(b, b.keys.on_batch(batch)),
                loop,
                on_sync=lambda batch: _key_events(b, b.keys.sync(batch)),
            ),
        ]
        if isinstance(data, GroupSource):  # the live path: every bar from history
            b.listeners.append(history_stream.listener(data, on_symbols, lambda: hub.latest, loop))
        for listener in b.listeners:
            listener.start()
        await b.start_trades(loop)  # channel `trades`: this instance's tickcast-ticks subscription
        b.watchdog = Watchdog(b.listeners, cfg.ws_watchdog_interval_s, cfg.ws_listener_silence_s)
        tasks = [
            asyncio.create_task(_sweep(b)),
            asyncio.create_task(b.watchdog.run()),
            asyncio.create_task(_recheck_keys(b)),
            asyncio.create_task(_sample_ops(b, ops, live, read_model)),
        ]
        uninstall = on_sigterm(loop, b.drainer)
        try:
            yield
        finally:
            if uninstall is not None:
                uninstall()
            hub.close_all(CLOSE_RESTART, RESTART_REASON, flush=False)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(
                *(asyncio.to_thread(lst.stop) for lst in b.listeners), return_exceptions=True
            )
            b.shutdown()

    app = FastAPI(title="tickcast ws_bridge", version=__version__, lifespan=lifespan)
    app.state.bridge = b
    app.state.hub = hub

    def readable(who: Principal, raw: str) -> str:
        """The normalised symbol (`BTC/USD`, `X:BTCUSD` -> `BTC-USD`), if the caller may read it."""
        symbol = client_symbol(raw)
        if symbol is None:
            raise HTTPException(422, f"invalid symbol {raw!r}")
        if not who.may_read(symbol):
            raise HTTPException(403, f"not entitled to {symbol}")
        return symbol

    install_pages(app)  # the dashboard at / and its static files (pages.py)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """For monitors: `healthy`, or `degraded` with `reasons` (still 200, so it is read)."""
        return health_report(
            version=__version__,
            uptime_s=time.time() - b.started,
            listeners=b.listeners,
            silence_s=cfg.ws_listener_silence_s,
            draining=b.drainer.draining,
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (Cloud Run's liveness probe)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready when every listener is active and synced and the instance is not draining."""
        return JSONResponse(
            {
                "ready": b.ready,
                "draining": b.drainer.draining,
                "listeners": [lst.health() for lst in b.listeners],
            },
            status_code=200 if b.ready else 503,
        )

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        """Counts only: open to monitoring, no market data."""
        subs = hub.subscribers.values()
        return {
            "version": __version__,
            "uptime_s": round(time.time() - b.started, 1),
            "connections": len(hub.subscribers),
            "subscriptions": hub.subscriptions,
            "symbols": len(hub.latest),
            "updates": hub.updates,
            "filled_from_history": hub.filled,
            "frames_sent": sum(s.sent for s in subs),
            "conflated": sum(s.outbox.conflated for s in subs),
            "slow_drops": hub.slow_drops,
            "listener_restarts": sum(lst.restarts for lst in b.listeners),
            "replays_refused": b.replay.refused,
            "active_connections": len(hub.subscribers),
            **ops.snapshot(),
            "live_model": live.view(),
        }

    @app.get("/metrics", include_in_schema=False)
    async def prom() -> Response:
        b.metrics.connections.set(len(hub.subscribers))
        b.metrics.subscriptions.set(hub.subscriptions)
        return Response(generate_latest(b.metrics.registry), media_type="text/plain; version=0.0.4")

    @app.get("/v1/alerts")
    async def alerts(
        who: Caller,
        symbols: str | None = Query(None, description="comma-separated; default: all readable"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """The alerts of the last `TICKCAST_WS_ALERTS_WINDOW_S`, newest first, as the
        live `alert` frames carry them (this instance's alerts listener holds them)."""
        wanted = None
        if symbols is not None:
            wanted = [readable(who, raw) for raw in symbols.split(",") if raw.strip()]
        return recent.latest(who.may_read, wanted, limit)

    @app.get("/v1/symbols")
    async def list_symbols(who: Caller) -> list[dict[str, Any]]:
        return [client_doc(hub.latest[k]) for k in sorted(hub.latest) if who.may_read(k)]

    # `{symbol:path}`: a pair written `BTC/USD` (or `BTC%2FUSD`) reaches the route whole.
    # The history route is declared first, so `.../predictions` is never taken for a symbol.
    @app.get("/v1/symbols/{symbol:path}/predictions")
    async def predictions(
        symbol: str,
        who: Caller,
        after: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=history.MAX_LIMIT),
    ) -> list[dict[str, Any]]:
        symbol = readable(who, symbol)
        # History pages spend the credential's replay budget, like `since` replays.
        granted = min(limit, b.replay.available(None, who.id))
        if granted == 0:
            b.metrics.rejections.labels("replay_budget_exceeded").inc()
            raise HTTPException(
                429,
                "replay_budget_exceeded: this credential's history budget "
                f"({b.replay.limits.describe()}) is spent; retry later",
                headers={"Retry-After": "1"},
            )
        loop = asyncio.get_running_loop()
        docs = await loop.run_in_executor(b.replays, data.history, symbol, after, None, granted)
        b.replay.spend(None, who.id, len(docs))
        return [client_doc(d) for d in docs]

    @app.get("/v1/symbols/{symbol:path}")
    async def latest(symbol: str, who: Caller) -> dict[str, Any]:
        symbol = readable(who, symbol)
        doc = hub.latest.get(symbol)
        if doc is None:
            raise HTTPException(404, f"no data for {symbol}")
        return client_doc(doc)

    async def ws(websocket: WebSocket) -> None:
        await CountedSession(b, websocket, ops).run()

    # A plain Starlette route: FastAPI's dependency solving per handshake costs
    # more than the session itself, and /ws takes no parameters to solve.
    app.router.add_websocket_route("/ws", ws)

    return app


def _observe(
    b: Bridge, ops: StatsWindow, latest: dict[str, dict[str, Any]], doc: dict[str, Any]
) -> None:
    published = latest.get(doc["symbol"])
    if published is not None and published.get("seq") == doc.get("seq"):
        ops.observe_update(published)  # the hub's copy: its trace carries `bridge`
        b.metrics.observe_published(published)


async def _sample_ops(
    b: Bridge, ops: StatsWindow, live: LiveModel, read: ModelReader | None
) -> None:
    """Each second: frames sent per connection; every MODEL_REFRESH_S: the live model's scores."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(SWEEP_S)
        ops.observe_sent({s.id: s.sent for s in b.hub.subscribers.values()})
        ops.trim()
        model_id = live_model_id(b.hub.latest)
        stale = time.monotonic() - live.read_at >= MODEL_REFRESH_S or model_id != live.model_id
        if read is None or model_id is None or not stale:
            continue
        live.model_id, live.read_at = model_id, time.monotonic()
        try:
            live.doc = await loop.run_in_executor(b.lookups, read, model_id)
            live.error = None
            b.metrics.observe_model(live.view())
        except Exception as exc:  # Firestore unavailable: keep the last scores, retry later
            live.error = str(exc)
            _log.warning("models read failed", extra={"model_id": model_id, "error": str(exc)})


async def _sweep(b: Bridge) -> None:
    while True:
        await asyncio.sleep(SWEEP_S)
        b.hub.sweep()
        b.replay.prune()


def _key_events(b: Bridge, events: KeyEvents) -> None:
    for key_id, code, message in events.closed:
        b.hub.close_key(key_id, code, message)
    for record in events.changed:
        b.hub.key_changed(record.key_id, b.auth.key_principal(record))


def _read_keys(source: Source, key_ids: list[str]) -> list[Change]:
    return [(key_id, source.api_key(key_id)) for key_id in key_ids]


async def _recheck_keys(b: Bridge) -> None:
    """Read the API keys of open connections again, every `key_recheck_s`.

    The api_keys listener normally closes a revoked key's sockets within about a
    second, and the watchdog restarts it if its watch dies. A stream that is
    half-open looks like a quiet collection, which api_keys usually is, so nothing
    would notice it: this bounds revocation at `key_recheck_s` plus one read per
    distinct key with open connections on this instance, whatever the listener does.
    """
    loop = asyncio.get_running_loop()
    last = time.monotonic()
    while True:
        await asyncio.sleep(min(b.key_recheck_s, SWEEP_S))
        if time.monotonic() - last < b.key_recheck_s:
            continue
        last = time.monotonic()
        key_ids = sorted(b.hub.by_api_key)
        if not key_ids:
            continue
        try:
            batch = await loop.run_in_executor(b.lookups, _read_keys, b.source, key_ids)
        except Exception as exc:  # Firestore unavailable: the next pass retries
            _log.warning("api key recheck failed", extra={"error": str(exc)})
            continue
        _key_events(b, b.keys.recheck(batch))
