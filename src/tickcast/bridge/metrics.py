"""Prometheus metrics of one bridge instance (counts only: /metrics leaks no data)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "tickcast_bridge_connections", "Open WebSocket connections", registry=self.registry
        )
        self.subscriptions = Gauge(
            "tickcast_bridge_subscriptions",
            "Open (channel, symbol) subscriptions",
            registry=self.registry,
        )
        self.frames = Counter(
            "tickcast_bridge_client_frames",
            "Client frames received, by outcome",
            ["result"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "tickcast_bridge_rejections",
            "Connections or requests refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.updates = Counter(
            "tickcast_bridge_updates",
            "Firestore document changes received by the listeners",
            registry=self.registry,
        )
        self.closes = Counter(
            "tickcast_bridge_closes",
            "Connections the server closed, by close code",
            ["code"],
            registry=self.registry,
        )
