"""Topics and push subscriptions of the contract, on the Pub/Sub emulator.

The same wiring as infra/terraform, from the same file: tickcast/deploy/topology.json
holds each function's push routes, their ordering, subscription names, ack
deadline, retry backoff and dead-letter attempts; Terraform reads it with
jsondecode(file(...)). The dead-letter topic gets a pull subscription so dead
letters can be read (`tickcast deadletters`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

import google.cloud.pubsub_v1 as pubsub_v1
from google.api_core import exceptions as gexc

from tickcast import log
from tickcast.config import TOPICS, Settings, Topic

_log = log.get("local.topology")

# push: the emulator pushes (at most 2 requests in flight per subscription);
# pull: tickcast.local.dispatch pulls and posts the same envelope.
Delivery = Literal["push", "pull"]
DELIVERIES: tuple[Delivery, ...] = ("push", "pull")


@dataclass(frozen=True)
class Route:
    topic: Topic
    function: str
    ordered: bool
    subscription: str  # without the topic prefix


@dataclass(frozen=True)
class Topology:
    routes: tuple[Route, ...]
    ack_deadline_seconds: int
    minimum_backoff_seconds: int
    maximum_backoff_seconds: int
    max_delivery_attempts: int
    deadletter_subscription: str
    deadletter_ack_deadline_seconds: int


def parse(data: Mapping[str, Any]) -> Topology:
    push = data["push"]
    routes = []
    for r in data["routes"]:
        if r["topic"] not in TOPICS:
            raise ValueError(f"topology.json: unknown topic {r['topic']!r}")
        routes.append(
            Route(
                cast(Topic, r["topic"]), str(r["function"]), bool(r["ordered"]), r["subscription"]
            )
        )
    return Topology(
        routes=tuple(routes),
        ack_deadline_seconds=int(push["ack_deadline_seconds"]),
        minimum_backoff_seconds=int(push["minimum_backoff_seconds"]),
        maximum_backoff_seconds=int(push["maximum_backoff_seconds"]),
        max_delivery_attempts=int(push["max_delivery_attempts"]),
        deadletter_subscription=str(data["deadletter_inspect"]["subscription"]),
        deadletter_ack_deadline_seconds=int(data["deadletter_inspect"]["ack_deadline_seconds"]),
    )


@cache
def topology() -> Topology:
    text = resources.files("tickcast.deploy").joinpath("topology.json").read_text("utf-8")
    return parse(json.loads(text))


# (topic, function, ordered), kept for callers that iterate routes as tuples.
PUSH_ROUTES: tuple[tuple[Topic, str, bool], ...] = tuple(
    (r.topic, r.function, r.ordered) for r in topology().routes
)
MAX_DELIVERY_ATTEMPTS = topology().max_delivery_attempts


def subscription_id(s: Settings, topic: str, function: str) -> str:
    for r in topology().routes:
        if (r.topic, r.function) == (topic, function):
            return f"{s.topic_prefix}{r.subscription}"
    raise KeyError(f"no push route from {topic} to {function}")


def deadletter_subscription(s: Settings) -> str:
    return f"projects/{s.project_id}/subscriptions/{s.topic_prefix}{topology().deadletter_subscription}"


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


def subscription_request(
    s: Settings, project: str, route: Route, endpoint: str | None
) -> dict[str, Any]:
    """The CreateSubscription request of one push route (what Terraform's module sets);
    `endpoint` None makes it a pull subscription with the same policies (pull delivery,
    tickcast.local.dispatch)."""
    t = topology()
    return {
        "name": f"projects/{project}/subscriptions/{s.topic_prefix}{route.subscription}",
        "topic": s.topic_path(route.topic),
        "push_config": {"push_endpoint": endpoint} if endpoint else {},
        "ack_deadline_seconds": t.ack_deadline_seconds,
        "enable_message_ordering": route.ordered,
        "retry_policy": {
            "minimum_backoff": {"seconds": t.minimum_backoff_seconds},
            "maximum_backoff": {"seconds": t.maximum_backoff_seconds},
        },
        "dead_letter_policy": {
            "dead_letter_topic": s.topic_path("deadletter"),
            "max_delivery_attempts": t.max_delivery_attempts,
        },
    }


def create_topology(
    env: Mapping[str, str],
    project: str,
    endpoints: Mapping[str, str],
    delivery: Delivery = "push",
) -> None:
    """Create topics and subscriptions (idempotent) on the emulator `env` names.

    `delivery="pull"`: the routes' subscriptions get no push endpoint (tickcast's
    dispatcher pulls them); one left by an earlier push-mode run on a reused
    emulator loses its endpoint, and one left by a pull-mode run gets it back, so
    a message is never delivered both ways."""
    s = Settings.from_env(env)
    with _emulator(env):
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
    for name in TOPICS:
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=s.topic_path(name))
    t = topology()
    for route in t.routes:
        endpoint = endpoints[route.function] if delivery == "push" else None
        request = subscription_request(s, project, route, endpoint)
        try:
            subscriber.create_subscription(request=request)
        except gexc.AlreadyExists:
            existing = subscriber.get_subscription(subscription=request["name"])
            if delivery == "pull" and existing.push_config.push_endpoint:
                subscriber.modify_push_config(subscription=request["name"], push_config={})
            elif delivery == "push" and not existing.push_config.push_endpoint:
                subscriber.modify_push_config(
                    subscription=request["name"], push_config=request["push_config"]
                )
    with contextlib.suppress(gexc.AlreadyExists):
        subscriber.create_subscription(
            name=deadletter_subscription(s),
            topic=s.topic_path("deadletter"),
            ack_deadline_seconds=t.deadletter_ack_deadline_seconds,
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
