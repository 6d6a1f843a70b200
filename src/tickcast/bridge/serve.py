"""Run the bridge under uvicorn with the WebSocket settings taken from Settings.

`python -m tickcast.bridge.serve` (the container's command). Plain
`uvicorn main:app` works too, but only this applies TICKCAST_WS_PING_* and
TICKCAST_WS_PER_MESSAGE_DEFLATE (off by default; uvicorn's default is on):
compression runs once per client per frame, which would undo serialising each
update once, and keeps zlib state for every connection.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from tickcast.bridge.leanws import LeanWebSocketProtocol, websocket_fast_path
from tickcast.config import Settings, settings

GRACEFUL_S = 2.0  # after the bridge's own drain: TICKCAST_WS_DRAIN_S + this < Cloud Run's 10 s
HARD_FRAME_FACTOR = 4  # the protocol limit answers with an error frame; far beyond it, 1009


def uvicorn_config(app: Any, cfg: Settings, host: str, port: int, **extra: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        # websockets-sansio, holding less per connection (leanws.py: issue #16).
        "ws": LeanWebSocketProtocol,
        "ws_max_size": cfg.ws_max_frame_bytes * HARD_FRAME_FACTOR,
        "ws_ping_interval": cfg.ws_ping_interval_s,
        "ws_ping_timeout": cfg.ws_ping_timeout_s,
        # uvicorn's own default is on: per client and per frame, see the module docstring.
        "ws_per_message_deflate": cfg.ws_per_message_deflate,
        "timeout_graceful_shutdown": GRACEFUL_S,
        "proxy_headers": True,
        "forwarded_allow_ips": "*",  # Cloud Run's front end is the only way in
        "access_log": False,
        "lifespan": "on",
    }
    options.update(extra)
    return uvicorn.Config(websocket_fast_path(app), **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve ws_bridge (Cloud Run entry point).")
    parser.add_argument("--host", default="0.0.0.0", help="all interfaces: a container port")
    parser.add_argument("--port", type=int, default=None, help="default $PORT")
    args = parser.parse_args(argv)
    cfg = settings()
    from tickcast.bridge.app import create_app

    server = uvicorn.Server(uvicorn_config(create_app(cfg), cfg, args.host, args.port or cfg.port))
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
