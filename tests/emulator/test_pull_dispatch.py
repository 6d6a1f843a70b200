"""Pull delivery (tickcast.local.dispatch) against the real Pub/Sub emulator:
the push envelope, ack on 2xx, per-key order under concurrency, retry with
backoff, dead-letter after max attempts with Cloud Pub/Sub's attributes."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from google.cloud import pubsub_v1

from tickcast.local.dispatch import Dispatcher, Policy, Route
from tickcast.local.processes import free_port
from tickcast.pubsub import decode_push

pytestmark = pytest.mark.emulator

# Decides the status of each POST from its decoded body: (body) -> status.
Decide = Callable[[dict[str, Any]], int]


class Endpoint:
    """A loopback push endpoint that records every body, and per ordering key how
    many requests were in flight at once."""

    def __init__(self, decide: Decide, work_s: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.in_flight: dict[str, int] = defaultdict(int)
        self.peak_per_key = 0
        self.total = self.peak_total = 0
        lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = body["message"].get("orderingKey", "")
                with lock:
                    me.bodies.append(body)
                    me.times.append(time.monotonic())
                    me.in_flight[key] += 1
                    me.total += 1
                    me.peak_per_key = max(me.peak_per_key, me.in_flight[key])
                    me.peak_total = max(me.peak_total, me.total)
                if work_s:
                    time.sleep(random.uniform(0, work_s))
                status = decide(body)
                with lock:
                    me.in_flight[key] -= 1
                    me.total -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def data(self) -> list[bytes]:
        return [decode_push(b).data for b in self.bodies]


class Wiring:
    """A topic, a subscription with the topology's shape, and a dead-letter topic
    with a pull subscription, all fresh on the session emulator."""

    def __init__(self, project: str, ordered: bool) -> None:
        tag = uuid.uuid4().hex[:8]
        self.project = project
        self.topic = f"projects/{project}/topics/pd-{tag}"
        self.dead_topic = f"projects/{project}/topics/pd-{tag}-dead"
        self.sub = f"projects/{project}/subscriptions/pd-{tag}-sub"
        self.dead_sub = f"projects/{project}/subscriptions/pd-{tag}-dead-sub"
        self.publisher = pubsub_v1.PublisherClient(
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
        )
        self.subscriber = pubsub_v1.SubscriberClient()
        for t in (self.topic, self.dead_topic):
            self.publisher.create_topic(name=t)
        self.subscriber.create_subscription(
            request={
                "name": self.sub,
                "topic": self.topic,
                "ack_deadline_seconds": 10,
                "enable_message_ordering": ordered,
                "dead_letter_policy": {
                    "dead_letter_topic": self.dead_topic,
                    "max_delivery_attempts": 5,
                },
            }
        )
        self.subscriber.create_subscription(name=self.dead_sub, topic=self.dead_topic)

    def publish(self, data: bytes, key: str = "", **attrs: str) -> str:
        return str(self.publisher.publish(self.topic, data, ordering_key=key, **attrs).result(10))

    def pull_dead(self, n: int, timeout_s: float = 10.0) -> list[Any]:
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n and time.monotonic() < deadline:
            r = self.subscriber.pull(
                subscription=self.dead_sub, max_messages=10, return_immediately=True, timeout=3
            )
            if r.received_messages:
                self.subscriber.acknowledge(
                    subscription=self.dead_sub, ack_ids=[m.ack_id for m in r.received_messages]
                )
                out.extend(m.message for m in r.received_messages)
            else:
                time.sleep(0.1)
        return out

    def close(self) -> None:
        for s in (self.sub, self.dead_sub):
            self.subscriber.delete_subscription(subscription=s)
        for t in (self.topic, self.dead_topic):
            self.publisher.delete_topic(topic=t)


@pytest.fixture
def wiring(backends: Any) -> Iterator[Callable[[bool], Wiring]]:
    made: list[Wiring] = []

    def make(ordered: bool) -> Wiring:
        w = Wiring(backends.project, ordered)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@contextmanager
def dispatching(
    w: Wiring, endpoint: Endpoint, ordered: bool, concurrency: int, attempts: int = 5
) -> Iterator[Dispatcher]:
    policy = Policy(
        minimum_backoff_s=0.2,
        maximum_backoff_s=0.4,
        max_delivery_attempts=attempts,
        dead_letter_topic=w.dead_topic,
        ack_deadline_s=10,
    )
    thread = threading.Thread(target=endpoint.server.serve_forever, daemon=True)
    thread.start()
    d = Dispatcher([Route(w.sub, endpoint.url, ordered)], policy, concurrency=concurrency)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        endpoint.server.shutdown()


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_envelope_is_the_push_body_and_2xx_acks(wiring: Any) -> None:
    w = wiring(False)
    ep = Endpoint(lambda _b: 204)
    with dispatching(w, ep, ordered=False, concurrency=4) as d:
        ids = [w.publish(b"m%d" % i, format="alpaca", n=str(i)) for i in range(3)]
        wait_for(lambda: d.subs[0].stats.acked == 3, 15, "three acks")
        time.sleep(1.0)  # nothing comes twice
    assert len(ep.bodies) == 3
    by_id = {b["message"]["messageId"]: b for b in ep.bodies}
    assert set(by_id) == set(ids)
    for i, mid in enumerate(ids):
        body = by_id[mid]
        assert body["subscription"] == w.sub
        assert body["deliveryAttempt"] == 1
        m = body["message"]
        assert m["message_id"] == mid and m["publishTime"] == m["publish_time"]
        assert m["publishTime"].endswith("Z") and "orderingKey" not in m
        pushed = decode_push(body)  # what the functions parse
        assert pushed.data == b"m%d" % i
        assert pushed.attributes == {"format": "alpaca", "n": str(i)}
        assert pushed.message_id == mid and pushed.publish_time_ns > 0


def test_per_key_order_with_concurrency_above_one(wiring: Any) -> None:
    w = wiring(True)
    ep = Endpoint(lambda _b: 200, work_s=0.01)
    keys = [f"K{k}" for k in range(6)]
    per_key = 20
    with dispatching(w, ep, ordered=True, concurrency=8) as d:
        futures = [
            w.publisher.publish(w.topic, f"{key}:{i}".encode(), ordering_key=key)
            for i in range(per_key)
            for key in keys
        ]
        for f in futures:
            f.result(10)
        wait_for(lambda: d.subs[0].stats.acked == len(futures), 60, "every message acked")
    seen: dict[str, list[int]] = defaultdict(list)
    for b in ep.bodies:
        key = b["message"]["orderingKey"]
        k, n = decode_push(b).data.decode().split(":")
        assert k == key
        seen[key].append(int(n))
    assert {k: seen[k] for k in keys} == {k: list(range(per_key)) for k in keys}
    assert ep.peak_per_key == 1, "two messages of one key were at the function at once"
    assert ep.peak_total > 1, "the dispatcher never had two requests in flight"


def test_a_500_is_retried_after_a_backoff_and_holds_its_key(wiring: Any) -> None:
    w = wiring(True)
    failures = {"first": 2}  # the first message fails twice, then succeeds

    def decide(body: dict[str, Any]) -> int:
        if decode_push(body).data == b"first" and failures["first"] > 0:
            failures["first"] -= 1
            return 500
        return 200

    ep = Endpoint(decide)
    with dispatching(w, ep, ordered=True, concurrency=4) as d:
        w.publish(b"first", key="AAPL")
        w.publish(b"second", key="AAPL")
        wait_for(lambda: d.subs[0].stats.acked == 2, 20, "both acked")
    assert ep.data() == [b"first", b"first", b"first", b"second"]
    assert [b["deliveryAttempt"] for b in ep.bodies] == [1, 2, 3, 1]
    gaps = [b - a for a, b in zip(ep.times, ep.times[1:], strict=False)]
    # Backoff 0.2 s then 0.4 s (min doubling, capped at max); timers are not early.
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39, gaps
    assert w.pull_dead(1, timeout_s=1.0) == []


def test_dead_letter_after_max_attempts_with_pubsubs_attributes(wiring: Any) -> None:
    w = wiring(True)
    ep = Endpoint(lambda b: 500 if decode_push(b).data == b"poison" else 200)
    with dispatching(w, ep, ordered=True, concurrency=4, attempts=5) as d:
        mid = w.publish(b"poison", key="MSFT", format="polygon")
        w.publish(b"after", key="MSFT")
        dead = w.pull_dead(1, timeout_s=20)
        wait_for(lambda: d.subs[0].stats.acked == 1, 10, "the next message of the key")
        time.sleep(1.0)  # the dead letter was acked: never delivered again
    assert ep.data() == [b"poison"] * 5 + [b"after"]
    assert [b["deliveryAttempt"] for b in ep.bodies[:5]] == [1, 2, 3, 4, 5]
    assert len(dead) == 1
    msg = dead[0]
    assert msg.data == b"poison"
    attrs = dict(msg.attributes)
    assert attrs.pop("CloudPubSubDeadLetterSourceTopicPublishTime").endswith("Z")
    assert attrs == {
        "format": "polygon",
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": w.sub.rsplit("/", 1)[1],
        "CloudPubSubDeadLetterSourceSubscriptionProject": w.project,
    }
    assert d.subs[0].stats.dead_lettered == 1
    assert mid  # published before the dispatcher gave up on it
