"""/healthz, /readyz and /metrics on PORT (Cloud Run's probes; a Prometheus scraper).

Served by the websockets package the connector already uses for the vendor
socket: its `process_request` hook answers plain HTTP GETs before any WebSocket
handshake (the health-check pattern in its docs), so no second web stack runs
beside the connector. Every other path is a 404; WebSocket upgrades are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


def _json(conn: ServerConnection, status: HTTPStatus, body: dict[str, object]) -> Response:
    resp = conn.respond(status, orjson.dumps(body).decode() + "\n")
    del resp.headers["Content-Type"]
    resp.headers["Content-Type"] = "application/json"
    return resp


async def start(
    host: str,
    port: int,
    ready: Callable[[], tuple[bool, dict[str, object]]],
    registry: CollectorRegistry,
) -> Server:
    """Serve until the returned server is closed; `ready()` gives (ready?, details)."""

    def route(conn: ServerConnection, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return _json(conn, HTTPStatus.OK, {"status": "ok"})
        if path == "/readyz":
            ok, details = ready()
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            return _json(conn, status, {"ready": ok, **details})
        if path == "/metrics":
            resp = conn.respond(HTTPStatus.OK, generate_latest(registry).decode())
            del resp.headers["Content-Type"]
            resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return resp
        return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")

    async def refuse(conn: ServerConnection) -> None:  # never reached: route answers all
        await conn.close(1008)

    return await serve(refuse, host, port, process_request=route, ping_interval=None)
