"""Prometheus metrics of one connector (its own registry: counts and times, no market data)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Pub/Sub publish round trips: sub-millisecond on the emulator, tens of ms in the cloud,
# seconds when the service is struggling.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class FeedMetrics:
    def __init__(self, feed: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        labels = ["feed"]
        self.frames_in = Counter(
            "tickcast_feed_frames_received",
            "Data frames received from the vendor",
            labels,
            registry=r,
        ).labels(feed)
        self.frames_published = Counter(
            "tickcast_feed_frames_published",
            "Frames Pub/Sub acknowledged on the raw topic",
            labels,
            registry=r,
        ).labels(feed)
        self.publish_failures = Counter(
            "tickcast_feed_publish_failures",
            "Publish attempts that failed (each frame is retried until published)",
            labels,
            registry=r,
        ).labels(feed)
        self.publish_latency = Histogram(
            "tickcast_feed_publish_latency_seconds",
            "Publish call to Pub/Sub acknowledgement, successful attempts",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        ).labels(feed)
        self.frame_delay = Histogram(
            "tickcast_feed_frame_delay_seconds",
            "Frame received to Pub/Sub acknowledgement (queueing, retries and publish)",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        ).labels(feed)
        self._reconnects = Counter(
            "tickcast_feed_reconnects",
            "Reconnects, by the reason the previous connection ended",
            ["feed", "reason"],
            registry=r,
        )
        self._controls = Counter(
            "tickcast_feed_control_messages",
            "Vendor control messages (acknowledgements, errors, heartbeats), by kind",
            ["feed", "kind"],
            registry=r,
        )
        self.cross_shard = Counter(
            "tickcast_feed_cross_shard_frames",
            "Frames whose symbols span several shards (keyed by the first symbol's)",
            labels,
            registry=r,
        ).labels(feed)
        self.reader_paused = Counter(
            "tickcast_feed_reader_paused_seconds",
            "Time the socket reader waited for room in the full queue (backpressure)",
            labels,
            registry=r,
        ).labels(feed)
        self.connected = Gauge(
            "tickcast_feed_connected", "1 while the vendor socket is open", labels, registry=r
        ).labels(feed)
        self.subscribed = Gauge(
            "tickcast_feed_subscribed",
            "1 while the subscription is acknowledged",
            labels,
            registry=r,
        ).labels(feed)
        self.stale = Gauge(
            "tickcast_feed_stale",
            "1 while no frame arrived for TICKCAST_FEED_STALE_S during the session",
            labels,
            registry=r,
        ).labels(feed)
        self._since_last = Gauge(
            "tickcast_feed_seconds_since_last_frame",
            "Seconds since the last data frame (since start before the first)",
            labels,
            registry=r,
        ).labels(feed)
        self._queued = Gauge(
            "tickcast_feed_queued_frames",
            "Frames received and not yet published (queue and in-flight batch)",
            labels,
            registry=r,
        ).labels(feed)
        self.feed = feed

    def reconnect(self, reason: str) -> None:
        self._reconnects.labels(self.feed, reason).inc()

    def control(self, kind: str) -> None:
        self._controls.labels(self.feed, kind).inc()

    def bind(self, since_last: Callable[[], float], queued: Callable[[], float]) -> None:
        self._since_last.set_function(since_last)
        self._queued.set_function(queued)
