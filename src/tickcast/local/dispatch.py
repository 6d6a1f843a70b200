"""`tickcast local up --delivery pull`: tickcast's own push, from streaming pull.

The Pub/Sub emulator pushes at most 2 requests at a time per subscription
(`tickcast bench floor`), so on the emulator a function sees at most 2
concurrent invocations per route where Cloud Pub/Sub push scales out. In pull
delivery the routes' subscriptions are pull subscriptions and this dispatcher
streaming-pulls each one and POSTs the exact push envelope to the function,
with `concurrency` requests in flight per subscription, keeping Cloud Pub/Sub
push's contract:

- ack on 2xx; anything else (or no answer within the ack deadline) is retried
  after an exponential backoff between the subscription's minimum and maximum
  (tickcast/deploy/topology.json, the same figures Terraform sets);
- an ordered subscription has at most one message per ordering key at the
  function, in publish order, and a message being retried holds its key (the
  next message of that key waits, as it does under push);
- after `max_delivery_attempts` the message goes to the dead-letter topic with
  its data, its attributes and the four attributes Cloud Pub/Sub adds
  (CloudPubSubDeadLetterSource{Subscription,SubscriptionProject,
  TopicPublishTime,DeliveryCount}), and is acked;
- the envelope carries `deliveryAttempt`, as push does when the subscription
  has a dead-letter policy.

Why the dispatcher counts attempts and dead-letters itself instead of nacking
and leaving it to the emulator: the emulator (cloud-pubsub-emulator 0.8.20,
checked 2026-12-03 by nacking one message on each kind of subscription with
min = max backoff 1 s and 5 attempts) does keep `delivery_attempt` and
dead-letters unordered messages with those four attributes, but redelivers the
first nack at once and later ones every ~2 s whatever the retry policy says;
on an ordered subscription it redelivered without any backoff and, after the
fifth attempt, neither redelivered nor dead-lettered the message in the next
9 s. And the streaming-pull client hands out a key's next message as soon as
one is nacked, which would break push's per-key blocking. So a failed message stays
leased here (the client extends its lease) and is retried by a timer; only at
shutdown are the messages still held nacked, to be redelivered (with the
emulator's attempt count, which this dispatcher starts from) next time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

from tickcast import log

_log = log.get("local.dispatch")

DEFAULT_CONCURRENCY = 16
# Outstanding messages per subscription (flow control): held for ordering,
# in flight, or waiting out a backoff. Bounds the dispatcher's memory.
DEFAULT_MAX_OUTSTANDING = 1000


@dataclass(frozen=True)
class Route:
    subscription: str  # projects/P/subscriptions/S
    endpoint: str  # the function's URL
    ordered: bool


@dataclass(frozen=True)
class Policy:
    """The subscription's retry and dead-letter policy (topology.json)."""

    minimum_backoff_s: float
    maximum_backoff_s: float
    max_delivery_attempts: int
    dead_letter_topic: str  # projects/P/topics/T
    ack_deadline_s: float

    def backoff_s(self, attempt: int) -> float:
        """Delay before delivery `attempt + 1`: doubling from the minimum, capped at
        the maximum (Cloud Pub/Sub's exponential backoff; it adds no documented jitter)."""
        return float(min(self.maximum_backoff_s, self.minimum_backoff_s * 2 ** max(0, attempt - 1)))


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def envelope(message: Message, subscription: str, attempt: int) -> bytes:
    """The body Cloud Pub/Sub push POSTs (wrapped, JSON), byte for byte in shape:
    both spellings of the id and time, `orderingKey` only when set."""
    published = _rfc3339(message.publish_time)
    body: dict[str, object] = {
        "data": base64.b64encode(message.data).decode("ascii"),
        "attributes": dict(message.attributes),
        "messageId": message.message_id,
        "message_id": message.message_id,
        "publishTime": published,
        "publish_time": published,
    }
    if message.ordering_key:
        body["orderingKey"] = message.ordering_key
    return orjson.dumps({"message": body, "subscription": subscription, "deliveryAttempt": attempt})


def dead_letter_attributes(message: Message, subscription: str, attempt: int) -> dict[str, str]:
    """The original attributes plus what Cloud Pub/Sub adds when it forwards a
    message to the dead-letter topic (https://cloud.google.com/pubsub/docs/handling-failures);
    the subscription is its short id, as the emulator writes it too."""
    _, project, _, sub_id = subscription.split("/", 3)
    return {
        **dict(message.attributes),
        "CloudPubSubDeadLetterSourceDeliveryCount": str(attempt),
        "CloudPubSubDeadLetterSourceSubscription": sub_id,
        "CloudPubSubDeadLetterSourceSubscriptionProject": project,
        "CloudPubSubDeadLetterSourceTopicPublishTime": _rfc3339(message.publish_time),
    }


@dataclass
class _Stats:
    acked: int = 0
    retried: int = 0
    dead_lettered: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


@dataclass
class SubscriptionDispatcher:
    """One subscription: streaming pull -> POST, with retries on timers."""

    route: Route
    policy: Policy
    subscriber: pubsub_v1.SubscriberClient
    publisher: pubsub_v1.PublisherClient
    http: httpx.Client
    concurrency: int = DEFAULT_CONCURRENCY
    max_outstanding: int = DEFAULT_MAX_OUTSTANDING
    stats: _Stats = field(default_factory=_Stats)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timers: dict[int, tuple[threading.Timer, Message]] = field(default_factory=dict)
    _executor: ThreadPoolExecutor | None = None
    _future: pubsub_v1.subscriber.futures.StreamingPullFuture | None = None

    def start(self) -> None:
        # The client's scheduler runs each callback on this pool: `concurrency` POSTs at once.
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=f"dispatch-{self._short()}"
        )
        flow = pubsub_v1.types.FlowControl(
            max_messages=self.max_outstanding,
            # A message retried for a while stays leased: allow the whole retry schedule.
            max_lease_duration=max(3600.0, self._retry_budget_s()),
        )
        self._future = self.subscriber.subscribe(
            self.route.subscription,
            callback=lambda m: self._deliver(m, m.delivery_attempt or 1),
            flow_control=flow,
            scheduler=ThreadScheduler(executor=self._executor),
            await_callbacks_on_shutdown=True,
        )

    def _short(self) -> str:
        return self.route.subscription.rsplit("/", 1)[-1]

    def _retry_budget_s(self) -> float:
        p = self.policy
        waits = sum(p.backoff_s(a) for a in range(1, p.max_delivery_attempts))
        return waits + p.max_delivery_attempts * p.ack_deadline_s

    def _post(self, message: Message, attempt: int) -> int | None:
        with self._lock:
            self.stats.in_flight += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
        try:
            r = self.http.post(
                self.route.endpoint,
                content=envelope(message, self.route.subscription, attempt),
                headers={"content-type": "application/json"},
                timeout=self.policy.ack_deadline_s,
            )
            return r.status_code
        except httpx.HTTPError as exc:
            # Unreachable or past the ack deadline: a failed delivery, as for push.
            _log.warning("push failed", extra={"subscription": self._short(), "error": str(exc)})
            return None
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    def _deliver(self, message: Message, attempt: int) -> None:
        if self._stopping.is_set():
            message.nack()
            return
        status = self._post(message, attempt)
        if status is not None and 200 <= status < 300:
            message.ack()
            with self._lock:
                self.stats.acked += 1
            return
        if attempt >= self.policy.max_delivery_attempts:
            self._dead_letter(message, attempt)
            return
        self._retry_later(message, attempt + 1)

    def _retry_later(self, message: Message, attempt: int) -> None:
        """Free this worker while the message waits out its backoff; it stays leased,
        so an ordered key stays blocked behind it."""
        delay = self.policy.backoff_s(attempt - 1)
        key = id(message)

        def fire() -> None:
            with self._lock:
                self._timers.pop(key, None)
            executor = self._executor
            if executor is None or self._stopping.is_set():
                message.nack()
                return
            try:
                executor.submit(self._deliver, message, attempt)
            except RuntimeError:  # the pool shut down meanwhile
                message.nack()

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self.stats.retried += 1
            self._timers[key] = (timer, message)
        timer.start()

    def _dead_letter(self, message: Message, attempt: int) -> None:
        attrs = dead_letter_attributes(message, self.route.subscription, attempt)
        try:
            self.publisher.publish(self.policy.dead_letter_topic, message.data, **attrs).result(
                timeout=30
            )
        except Exception as exc:
            # Not dead-lettered: let Pub/Sub redeliver it rather than lose it.
            _log.error("dead-letter publish failed", extra={"error": str(exc)})
            message.nack()
            return
        message.ack()
        with self._lock:
            self.stats.dead_lettered += 1
        _log.warning(
            "dead-lettered after max delivery attempts",
            extra={"subscription": self._short(), "attempts": attempt, "id": message.message_id},
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop pulling, let requests in flight finish (and ack), nack what waits."""
        self._stopping.set()
        with self._lock:
            waiting = list(self._timers.values())
            self._timers.clear()
        for timer, message in waiting:
            timer.cancel()
            message.nack()
        if self._future is not None:
            self._future.cancel()
            with contextlib.suppress(Exception):
                self._future.result(timeout=timeout_s)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class Dispatcher:
    """Every route of the topology, over one subscriber, publisher and HTTP pool."""

    routes: Sequence[Route]
    policy: Policy
    concurrency: int = DEFAULT_CONCURRENCY
    max_outstanding: int = DEFAULT_MAX_OUTSTANDING
    subs: list[SubscriptionDispatcher] = field(default_factory=list)
    _clients: tuple[pubsub_v1.SubscriberClient, pubsub_v1.PublisherClient, httpx.Client] | None = (
        None
    )

    def start(self) -> None:
        subscriber = pubsub_v1.SubscriberClient()
        publisher = pubsub_v1.PublisherClient()
        # Keep-alive connections, enough for every subscription's workers.
        http = httpx.Client(
            limits=httpx.Limits(
                max_connections=self.concurrency * max(1, len(self.routes)),
                max_keepalive_connections=self.concurrency * max(1, len(self.routes)),
            )
        )
        self._clients = (subscriber, publisher, http)
        for route in self.routes:
            sd = SubscriptionDispatcher(
                route,
                self.policy,
                subscriber,
                publisher,
                http,
                self.concurrency,
                self.max_outstanding,
            )
            sd.start()
            self.subs.append(sd)
        _log.info(
            "pull delivery started",
            extra={
                "routes": [r.subscription for r in self.routes],
                "concurrency": self.concurrency,
            },
        )

    def stop(self) -> None:
        for sd in self.subs:
            sd.stop()
        if self._clients is None:
            return
        subscriber, publisher, http = self._clients
        self._clients = None
        http.close()
        subscriber.close()
        publisher.stop()
        _log.info(
            "pull delivery stopped",
            extra={"stats": {sd._short(): vars(sd.stats) for sd in self.subs}},
        )


def routes_for(
    project: str, prefix: str, endpoints: Mapping[str, str]
) -> tuple[list[Route], Policy]:
    """The topology's routes (the same subscriptions push mode uses) and its policy."""
    from tickcast.local.topology import topology

    t = topology()
    routes = [
        Route(
            f"projects/{project}/subscriptions/{prefix}{r.subscription}",
            endpoints[r.function],
            r.ordered,
        )
        for r in t.routes
    ]
    policy = Policy(
        minimum_backoff_s=t.minimum_backoff_seconds,
        maximum_backoff_s=t.maximum_backoff_seconds,
        max_delivery_attempts=t.max_delivery_attempts,
        dead_letter_topic=f"projects/{project}/topics/{prefix}deadletter",
        ack_deadline_s=t.ack_deadline_seconds,
    )
    return routes, policy


def main(argv: list[str] | None = None) -> int:
    """The process `tickcast local up --delivery pull` runs beside the functions."""
    p = argparse.ArgumentParser(prog="python -m tickcast.local.dispatch")
    p.add_argument("--project", required=True)
    p.add_argument("--prefix", default=os.environ.get("TICKCAST_TOPIC_PREFIX", "tickcast-"))
    p.add_argument("--endpoint", action="append", default=[], metavar="FUNCTION=URL")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    p.add_argument("--max-outstanding", type=int, default=DEFAULT_MAX_OUTSTANDING)
    p.add_argument("--ready-file", type=Path, help="touched once every subscription is pulled")
    args = p.parse_args(argv)
    log.configure(os.environ.get("TICKCAST_LOG_LEVEL", "INFO"))
    if "PUBSUB_EMULATOR_HOST" not in os.environ:
        p.error("PUBSUB_EMULATOR_HOST is not set: pull delivery is for the local emulator")
    endpoints = dict(e.split("=", 1) for e in args.endpoint)
    routes, policy = routes_for(args.project, args.prefix, endpoints)
    dispatcher = Dispatcher(routes, policy, args.concurrency, args.max_outstanding)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    dispatcher.start()
    if args.ready_file is not None:
        args.ready_file.write_text(str(time.time()))
    done.wait()
    dispatcher.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
