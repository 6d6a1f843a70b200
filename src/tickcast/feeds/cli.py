"""`tickcast feed alpaca|polygon|yahoo`: run one connector until SIGTERM.

Exit codes: 0 stopped and flushed; 2 bad configuration; 3 the vendor refused
(bad keys, no entitlement: see the `feed stopped` log line); 4 stopped with
frames unpublished (the log line counts them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

from tickcast.cliargs import positive_int
from tickcast.errors import ConfigError
from tickcast.feeds.settings import VENDORS, FeedSettings

if TYPE_CHECKING:
    from tickcast.ingest.filters import Session


def session_of(cfg: FeedSettings, fallback: str) -> Session | None:
    """TICKCAST_FEED_SESSION, else TICKCAST_SESSION, else None (staleness counts always)."""
    from tickcast.ingest.filters import Session

    spec, name = (
        (cfg.session, "TICKCAST_FEED_SESSION") if cfg.session else (fallback, "TICKCAST_SESSION")
    )
    if not spec.strip():
        return None
    try:
        return Session.parse(spec)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from prometheus_client import disable_created_metrics

    from tickcast import clients, log
    from tickcast.config import Settings
    from tickcast.feeds.connector import Connector

    s = Settings.from_env(os.environ)
    log.configure(s.log_level)
    disable_created_metrics()  # type: ignore[no-untyped-call]  # this process is one connector: no `_created` series noise
    cfg = FeedSettings.from_env(
        args.vendor,
        os.environ,
        symbols=args.symbols,
        channels=args.channels,
        stream=args.stream,
        url=args.url,
        port=args.port,
    )
    session = session_of(cfg, s.session)
    client = clients.publisher(s.publish_latency_ms)
    connector = Connector(cfg, client, s.topic_path("raw"), session=session)
    try:
        return asyncio.run(connector.run(host=args.host))
    finally:
        client.stop()  # sends what the client still batches
        clients.publisher.cache_clear()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "feed",
        help="hold a vendor's WebSocket and publish its frames to the raw topic",
        description=(
            "Connect to Alpaca, Polygon.io or the Yahoo Finance streamer, subscribe, and publish "
            "every frame unchanged to tickcast-raw until SIGTERM. Configuration is the "
            "TICKCAST_FEED_* environment (docs/FEEDS.md); flags override it. Exit codes: 0 "
            "flushed, 2 bad configuration, 3 the vendor refused (keys, entitlement), 4 frames "
            "left unpublished."
        ),
    )
    p.add_argument("vendor", choices=VENDORS)
    p.add_argument("--symbols", help="comma-separated symbols (TICKCAST_FEED_SYMBOLS)")
    p.add_argument("--channels", help="comma-separated channels (TICKCAST_FEED_CHANNELS)")
    p.add_argument("--stream", help="Alpaca feed or Polygon cluster (TICKCAST_FEED_STREAM)")
    p.add_argument("--url", help="vendor WebSocket URL override (TICKCAST_FEED_URL)")
    p.add_argument("--port", type=positive_int, help="health and metrics port (PORT)")
    p.add_argument("--host", default="0.0.0.0", help="health server address (a container port)")
    p.set_defaults(func=run)
