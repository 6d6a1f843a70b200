"""The ws_bridge ASGI app: WebSocket at /ws, REST reads, health, metrics, dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from tickcast import __version__, clients, log
from tickcast.bridge import history
from tickcast.bridge.hub import Client, Hub, SlowClient, bar_frame, prediction_frame
from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.protocol import (
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
from tickcast.config import Settings, settings
from tickcast.predict.store import SYMBOLS

_log = log.get("bridge")

HEARTBEAT_S = 15.0
CLOSE_UNAUTHORIZED = 4401  # application close code: credentials missing or refused
CLOSE_TOO_SLOW = 1013  # "try again later": the client could not keep up
ALERTS = "alerts"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "tickcast_bridge_connections", "Open WebSocket connections", registry=self.registry
        )
        self.frames = Counter(
            "tickcast_bridge_client_frames",
            "Client frames received",
            ["result"],
            registry=self.registry,
        )
        self.updates = Counter(
            "tickcast_bridge_updates",
            "Firestore document changes fanned out",
            registry=self.registry,
        )


def create_app(s: Settings | None = None, firestore_client: Any = None) -> FastAPI:
    cfg = s or settings()
    log.configure(cfg.log_level)
    hub = Hub()
    metrics = Metrics()
    ids = itertools.count(1)
    state: dict[str, Any] = {"listeners": [], "started": time.time()}

    def fs() -> Any:
        return firestore_client or clients.firestore_client(cfg.project_id)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if cfg.ws_allow_unauthenticated:
            _log.warning(
                "unauthenticated WebSocket access is ON (TICKCAST_WS_ALLOW_UNAUTHENTICATED): local development only"
            )
        else:
            _log.info("WebSocket clients must authenticate")

        def on_symbol(doc: dict[str, Any]) -> None:
            metrics.updates.inc()
            hub.on_symbol_doc(doc)

        listeners = [
            CollectionListener(fs(), SYMBOLS, on_symbol, loop),
            CollectionListener(fs(), ALERTS, hub.on_alert, loop),
        ]
        for listener in listeners:
            listener.start()
        state["listeners"] = listeners
        beat = asyncio.create_task(_heartbeat(hub))
        try:
            yield
        finally:
            beat.cancel()
            for listener in listeners:
                listener.stop()

    app = FastAPI(title="tickcast ws_bridge", version=__version__, lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> str:
        return resources.files("tickcast.bridge").joinpath("dashboard.html").read_text()

    @app.get("/health")
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        health = [lst.health() for lst in state["listeners"]]
        ready = bool(health) and all(h["synced"] for h in health)
        return JSONResponse(
            {"ready": ready, "listeners": health}, status_code=200 if ready else 503
        )

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return {
            "version": __version__,
            "uptime_s": round(time.time() - state["started"], 1),
            "connections": len(hub.clients),
            "subscriptions": sum(len(c.subs) for c in hub.clients.values()),
            "symbols": len(hub.latest),
            "updates": hub.updates,
            "frames_sent": sum(c.sent for c in hub.clients.values()),
            "conflated": sum(c.conflated for c in hub.clients.values()),
        }

    @app.get("/metrics", include_in_schema=False)
    async def prom() -> Response:
        metrics.connections.set(len(hub.clients))
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    @app.get("/v1/symbols")
    async def list_symbols() -> list[dict[str, Any]]:
        return [hub.latest[k] for k in sorted(hub.latest)]

    @app.get("/v1/symbols/{symbol}")
    async def latest(symbol: str) -> dict[str, Any]:
        doc = hub.latest.get(symbol)
        if doc is None:
            raise HTTPException(404, f"no data for {symbol}")
        return doc

    @app.get("/v1/symbols/{symbol}/predictions")
    async def predictions(
        symbol: str,
        after: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=history.MAX_LIMIT),
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(history.after, fs(), symbol, after, limit)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        if not cfg.ws_allow_unauthenticated:
            # API keys and JWTs belong to the bridge's auth layer; until one is
            # configured nothing gets in (secure by default).
            await websocket.send_text(error_frame("unauthorized", "credentials required"))
            await websocket.close(code=CLOSE_UNAUTHORIZED)
            return
        client = Client(f"c{next(ids)}", websocket.send_text, cfg.ws_queue_size)
        hub.add(client)
        metrics.connections.inc()
        sender = asyncio.create_task(client.run())
        try:
            client.send(
                frame(
                    "welcome",
                    server="tickcast",
                    version=__version__,
                    channels=["predictions", "bars", "alerts"],
                )
            )
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text") or (message.get("bytes") or b"").decode(
                    "utf-8", "replace"
                )
                await _dispatch(client, text)
        except SlowClient as exc:
            _log.warning("dropping slow client", extra={"client": client.id, "error": str(exc)})
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_TOO_SLOW)
        except WebSocketDisconnect:
            pass
        finally:
            hub.remove(client)
            metrics.connections.dec()
            sender.cancel()

    async def _dispatch(client: Client, text: str) -> None:
        if len(text.encode()) > cfg.ws_max_frame_bytes:
            metrics.frames.labels("too_large").inc()
            client.send(
                error_frame(
                    "frame_too_large", f"frames are limited to {cfg.ws_max_frame_bytes} bytes"
                )
            )
            return
        try:
            msg = parse(text)
        except ProtocolError as exc:
            metrics.frames.labels(exc.code).inc()
            client.send(error_frame(exc.code, exc.message))
            return
        metrics.frames.labels("ok").inc()
        if isinstance(msg, Subscribe):
            await _subscribe(client, msg)
        elif isinstance(msg, Unsubscribe):
            for sym in msg.symbol_list:
                hub.unsubscribe(client, (msg.channel, sym))
            client.send(frame("unsubscribed", channel=msg.channel, symbols=msg.symbol_list))
        elif isinstance(msg, Ping):
            client.send(frame("pong", id=msg.id, t=time.time_ns() // 1_000_000))
        elif isinstance(msg, RequestPrediction):
            client.send(_answer(msg))
        elif isinstance(msg, Auth):
            client.send(frame("authenticated", method="none", note="unauthenticated local mode"))

    async def _subscribe(client: Client, msg: Subscribe) -> None:
        symbols = msg.symbol_list
        client.send(frame("subscribed", channel=msg.channel, symbols=symbols))
        render = bar_frame if msg.channel == "bars" else prediction_frame
        for sym in symbols:
            key = (msg.channel, sym)
            since = (msg.since or {}).get(sym)
            hub.subscribe(client, key)
            if msg.channel == ALERTS:
                continue
            if since is None:
                doc = hub.latest.get(sym)
                if doc is not None:
                    client.last_seq[key] = doc["seq"]
                    client.send(render(doc, "snapshot"))
                continue
            # Hold live updates while history is read, then release the newer ones:
            # no gap, no duplicate.
            client.replaying.add(key)
            client.last_seq[key] = since
            try:
                docs = await asyncio.to_thread(history.after, fs(), sym, since, history.MAX_LIMIT)
                for doc in docs:
                    client.last_seq[key] = doc["seq"]
                    client.send(render(doc, replay=True))
            finally:
                client.finish_replay(key)

    def _answer(msg: RequestPrediction) -> str:
        t0 = time.perf_counter_ns()
        doc = hub.latest.get(msg.symbol)
        if doc is None:
            return error_frame("not_found", f"no prediction for {msg.symbol} yet")
        pred = doc.get("prediction")
        notes = []
        opts = msg.options
        if opts.model and pred and opts.model != pred.get("model_id"):
            notes.append(
                f"model '{opts.model}' is not served here; answered with '{pred.get('model_id')}'"
            )
        if opts.horizon:
            notes.append(
                f"horizon '{opts.horizon}' requested; this prediction looks {doc.get('interval_s')}s x {pred.get('horizon_bars') if pred else '?'} bars ahead"
            )
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
            notes=notes,
            server_latency_us=(time.perf_counter_ns() - t0) // 1000,
        )

    app.state.hub = hub
    return app


async def _heartbeat(hub: Hub) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        text = frame("heartbeat", t=time.time_ns() // 1_000_000)
        for client in list(hub.clients.values()):
            with contextlib.suppress(SlowClient):
                client.send(text)
