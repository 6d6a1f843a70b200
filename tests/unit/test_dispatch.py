"""The pull dispatcher's pure parts: the push envelope the functions decode, the
dead-letter attributes Cloud Pub/Sub adds, and the backoff schedule."""

from __future__ import annotations

import base64
import queue
from datetime import UTC, datetime

import orjson
from google.cloud.pubsub_v1 import types
from google.cloud.pubsub_v1.subscriber.message import Message

from tickcast.local.dispatch import Policy, dead_letter_attributes, envelope, routes_for
from tickcast.local.topology import topology
from tickcast.pubsub import decode_push

SUB = "projects/p1/subscriptions/tickcast-ticks-features"


def _message(key: str = "") -> Message:
    pb = types.PubsubMessage(
        data=b'{"v":1}',
        attributes={"format": "alpaca"},
        message_id="123",
        publish_time=datetime(2026, 12, 3, 16, 0, 0, 123456, tzinfo=UTC),
        ordering_key=key,
    )._pb
    return Message(pb, "ack-1", 3, queue.Queue())


def test_the_envelope_is_what_push_posts_and_what_the_functions_decode() -> None:
    body = orjson.loads(envelope(_message("AAPL"), SUB, 3))
    assert body == {
        "message": {
            "data": base64.b64encode(b'{"v":1}').decode(),
            "attributes": {"format": "alpaca"},
            "messageId": "123",
            "message_id": "123",
            "publishTime": "2026-12-03T16:00:00.123456Z",
            "publish_time": "2026-12-03T16:00:00.123456Z",
            "orderingKey": "AAPL",
        },
        "subscription": SUB,
        "deliveryAttempt": 3,
    }
    pushed = decode_push(body)
    assert pushed.data == b'{"v":1}' and pushed.message_id == "123"
    assert pushed.publish_time_ns == 1_796_313_600_123_456_000
    assert "orderingKey" not in orjson.loads(envelope(_message(), SUB, 1))["message"]


def test_dead_letter_attributes_are_cloud_pubsubs() -> None:
    assert dead_letter_attributes(_message(), SUB, 10) == {
        "format": "alpaca",
        "CloudPubSubDeadLetterSourceDeliveryCount": "10",
        "CloudPubSubDeadLetterSourceSubscription": "tickcast-ticks-features",
        "CloudPubSubDeadLetterSourceSubscriptionProject": "p1",
        "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-12-03T16:00:00.123456Z",
    }


def test_backoff_doubles_from_the_minimum_to_the_maximum() -> None:
    p = Policy(1, 30, 10, "projects/p/topics/d", 60)
    assert [p.backoff_s(a) for a in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_routes_and_policy_come_from_the_topology() -> None:
    eps = {"ingest": "http://i/", "features": "http://f/", "predict": "http://p/"}
    routes, policy = routes_for("p1", "tickcast-", eps)
    t = topology()
    assert [r.subscription for r in routes] == [
        f"projects/p1/subscriptions/tickcast-{r.subscription}" for r in t.routes
    ]
    assert [r.ordered for r in routes] == [r.ordered for r in t.routes]
    assert (policy.minimum_backoff_s, policy.maximum_backoff_s) == (
        t.minimum_backoff_seconds,
        t.maximum_backoff_seconds,
    )
    assert policy.max_delivery_attempts == t.max_delivery_attempts
    assert policy.dead_letter_topic == "projects/p1/topics/tickcast-deadletter"
