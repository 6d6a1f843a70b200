"""Topics and push subscriptions of the contract, on the Pub/Sub emulator.

The same wiring as infra/terraform: each function's push subscription, message
ordering on ticks and features, the dead-letter topic and a pull subscription
on it so dead letters can be read (`tickcast deadletters`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from functools import cache

import google.cloud.pubsub_v1 as pubsub_v1
from google.api_core import exceptions as gexc

from tickcast import log
from tickcast.config import TOPICS, Settings, Topic

_log = log.get("local.topology")

# (topic, function, ordered)
PUSH_ROUTES: tuple[tuple[Topic, str, bool], ...] = (
    # A feed that sets an ordering key (one per connection) has its messages
    # processed in order: no tick of it is late because of ingest concurrency.
    ("raw", "ingest", True),
    ("ticks", "features", True),
    ("clock", "features", False),
    ("features", "predict", True),
    ("clock", "predict", False),
)
MAX_DELIVERY_ATTEMPTS = 10


def subscription_id(s: Settings, topic: str, function: str) -> str:
    return f"{s.topic_prefix}{topic}-{function}"


def deadletter_subscription(s: Settings) -> str:
    return f"projects/{s.project_id}/subscriptions/{s.topic_prefix}deadletter-inspect"


@contextlib.contextmanager
def _emulator(env: Mapping[str, str]) -> Iterator[None]:
    """The Pub/Sub client finds the emulator through the environment, read when a
    client is built: set it for that moment only, so this process's own settings
    (a test session's, say) are left as they were."""
    key = "PUBSUB_EMULATOR_HOST"
    saved = os.environ.get(key)
    os.environ[key] = env[key]
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


def create_topology(env: Mapping[str, str], project: str, endpoints: Mapping[str, str]) -> None:
    """Create topics and subscriptions (idempotent) on the emulator `env` names."""
    s = Settings.from_env(env)
    with _emulator(env):
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
    for name in TOPICS:
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=s.topic_path(name))
    for topic, function, ordered in PUSH_ROUTES:
        request = {
            "name": f"projects/{project}/subscriptions/{subscription_id(s, topic, function)}",
            "topic": s.topic_path(topic),
            "push_config": {"push_endpoint": endpoints[function]},
            "ack_deadline_seconds": 60,
            "enable_message_ordering": ordered,
            "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 30}},
            "dead_letter_policy": {
                "dead_letter_topic": s.topic_path("deadletter"),
                "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
            },
        }
        with contextlib.suppress(gexc.AlreadyExists):
            subscriber.create_subscription(request=request)
    with contextlib.suppress(gexc.AlreadyExists):
        subscriber.create_subscription(
            name=deadletter_subscription(s), topic=s.topic_path("deadletter")
        )
    _log.info("topology ready", extra={"project": project, "topics": [s.topic(t) for t in TOPICS]})


@cache
def _clock_publisher(host: str) -> pubsub_v1.PublisherClient:
    with _emulator({"PUBSUB_EMULATOR_HOST": host}):
        return pubsub_v1.PublisherClient()


def publish_clock(env: Mapping[str, str], project: str) -> None:
    s = Settings.from_env(env)
    now = time.time_ns()
    _clock_publisher(env["PUBSUB_EMULATOR_HOST"]).publish(
        s.topic_path("clock"), b'{"now_ns": %d}' % now, kind="clock"
    ).result(timeout=10)
