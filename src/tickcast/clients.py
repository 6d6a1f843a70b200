"""Lazily created, cached clients (one per instance), never built at import.

Cold start stays small and tests import without credentials. The Google
clients honour PUBSUB_EMULATOR_HOST / FIRESTORE_EMULATOR_HOST by themselves.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis
    from google.cloud import firestore, pubsub_v1

    from tickcast.config import Settings


@cache
def publisher(latency_ms: float) -> pubsub_v1.PublisherClient:
    import google.cloud.pubsub_v1 as pubsub_v1

    return pubsub_v1.PublisherClient(
        # The client's 10 ms default batching latency would dominate a tick's
        # end-to-end budget; 1 ms still batches bursts.
        batch_settings=pubsub_v1.types.BatchSettings(max_latency=latency_ms / 1000.0),
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )


@cache
def firestore_client(project_id: str) -> firestore.Client:
    from google.cloud import firestore

    return firestore.Client(project=project_id)


@cache
def redis_client(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry_on_timeout=False,  # a timeout surfaces as a 5xx; Pub/Sub redelivers
    )


def for_settings(s: Settings) -> tuple[pubsub_v1.PublisherClient, redis.Redis]:
    return publisher(s.publish_latency_ms), redis_client(s.redis_url)


def reset() -> None:
    """Forget cached clients (tests that change the environment)."""
    for f in (publisher, firestore_client, redis_client):
        f.cache_clear()
