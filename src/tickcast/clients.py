"""Lazily created, cached clients (one per instance), never built at import.

Cold start stays small and tests import without credentials. The Google
clients honour PUBSUB_EMULATOR_HOST / FIRESTORE_EMULATOR_HOST by themselves.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, cast

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


CLUSTER_SUFFIX = "+cluster"


@cache
def redis_client(url: str) -> redis.Redis:
    """A client for `TICKCAST_REDIS_URL`.

    - `redis://host:port/db`, or `rediss://` for TLS.
    - `redis+cluster://host:port` (or `rediss+cluster://`): a Redis Cluster, any
      node as the seed; every script tickcast runs keeps to one slot (keys.py).
    - With `rediss`, the server's CA as a file, `?ssl_ca_certs=/path/ca.pem`, or
      inline, `?ssl_ca_data=<url-encoded PEM>` (what Terraform writes into the
      secret from Memorystore's `server_ca_certs`). Other query options are
      redis-py's, and win over the defaults here.
    """
    import redis

    options: dict[str, Any] = {
        "socket_timeout": 5,
        "socket_connect_timeout": 2,
        "retry_on_timeout": False,  # a timeout surfaces as a 5xx; Pub/Sub redelivers
    }
    scheme, sep, rest = url.partition("://")
    cluster = scheme.endswith(CLUSTER_SUFFIX)
    if cluster:
        url = scheme.removesuffix(CLUSTER_SUFFIX) + sep + rest
    if url.startswith("rediss://"):
        # Memorystore's server certificate names the instance only by its IP, in
        # the subject CN, with no subjectAltName. For an IP address, OpenSSL's
        # hostname check matches only iPAddress SANs, never the CN, so redis-py's
        # default check (on since 6.0) rejects `rediss://<IP>`. The chain is
        # still verified against the CA given (CERT_REQUIRED), and that CA is the
        # instance's own: a certificate it signed is that instance's.
        options.update(ssl_cert_reqs="required", ssl_check_hostname=False)
    if cluster:
        from redis.cluster import RedisCluster

        # Typed as a Redis: tickcast uses only the commands both clients share.
        return cast("redis.Redis", RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, health_check_interval=30, **options)


def is_cluster(client: object) -> bool:
    """Is `client` a Redis Cluster client? Its pipelines refuse EVALSHA (redis-py
    blocks it), so callers send their scripts on their own there."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def for_settings(s: Settings) -> tuple[pubsub_v1.PublisherClient, redis.Redis]:
    return publisher(s.publish_latency_ms), redis_client(s.redis_url)


def reset() -> None:
    """Forget cached clients (tests that change the environment)."""
    for f in (publisher, firestore_client, redis_client):
        f.cache_clear()
