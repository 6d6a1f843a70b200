"""Prometheus metrics of one bridge instance (counts, latencies and the live model's
scores: /metrics leaks no market data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tickcast.bridge.opstats import hop_ms

# Seconds: a hop of a few ms up to a backlog of half a minute.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
        self.published = Counter(
            "tickcast_bridge_published",
            "Updates the hub published to clients, by whether they carry a prediction",
            ["prediction"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tickcast_bridge_latency_seconds",
            "Per hop of the trace (ingest, features, predict, bridge) and end to end (e2e: "
            "the event to the bridge publishing it)",
            ["hop"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_hit_rate = Gauge(
            "tickcast_model_hit_rate",
            "The live model's hit rate, from models/{id}",
            ["model_id"],
            registry=self.registry,
        )
        self.model_brier = Gauge(
            "tickcast_model_brier",
            "The live model's Brier score, from models/{id}",
            ["model_id"],
            registry=self.registry,
        )

    def observe_published(self, doc: Mapping[str, Any]) -> None:
        """One update the hub published (its trace carries `bridge`)."""
        self.published.labels(str(doc.get("prediction") is not None).lower()).inc()
        trace = doc.get("trace")
        if not isinstance(trace, Mapping):
            return
        for hop, ms in hop_ms(trace).items():
            self.latency.labels(hop).observe(ms / 1000)
        event, bridge = trace.get("event"), trace.get("bridge")
        if isinstance(event, int) and isinstance(bridge, int):
            self.latency.labels("e2e").observe((bridge - event) / 1e9)

    def observe_model(self, view: Mapping[str, Any]) -> None:
        """The live model's scores as `/stats` shows them (opstats.LiveModel.view)."""
        model_id = view.get("model_id")
        if not model_id:
            return
        if view.get("hit_rate") is not None:
            self.model_hit_rate.labels(model_id).set(view["hit_rate"])
        if view.get("brier") is not None:
            self.model_brier.labels(model_id).set(view["brier"])
