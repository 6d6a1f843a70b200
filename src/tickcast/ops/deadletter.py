"""`tickcast deadletter replay`: send dead-lettered messages back to where they failed.

Every dead letter holds the original bytes untouched with attributes `stage`,
`reason`, `error` (pubsub.dead_letter), plus `message_id` and the original
attributes renamed `orig_<name>` when the failure came from a pushed message
(stage.run). After the cause is fixed, replay pulls from the dead-letter pull
subscription, republishes each message's bytes to the topic its stage consumes
with its original attributes (the `orig_` ones under their own names, the
dead-letter ones dropped), and acks only what Pub/Sub accepted. A message Pub/Sub itself dead-lettered (its push
failed `max_delivery_attempts` times: a crash, a timeout) carries no `stage`: its
`CloudPubSubDeadLetterSource*` attributes name the subscription, which names the
route (topology.json), so it is replayed to that route's topic as
`reason=max_delivery_attempts`. What it does not
republish (filtered out, not replayable, failed) is handed back at once (ack
deadline 0) and stays in the subscription.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from tickcast.config import Settings, Topic
from tickcast.errors import TickcastError
from tickcast.local.topology import Route, deadletter_subscription, topology

# Attributes pubsub.dead_letter and its callers add; everything else is the original's.
DEADLETTER_ATTRS = frozenset({"stage", "reason", "error", "message_id", "batch"})
# What Pub/Sub adds to a message it forwards to a dead-letter topic
# (https://cloud.google.com/pubsub/docs/handling-failures: SourceSubscription,
# SourceSubscriptionProject, SourceDeliveryCount, SourceTopicPublishTime).
PUBSUB_DEADLETTER = "CloudPubSubDeadLetterSource"
PUBSUB_SOURCE = PUBSUB_DEADLETTER + "Subscription"
MAX_ATTEMPTS = "max_delivery_attempts"
ORIG = "orig_"
# Not an original message: a record of a correction that was not applied (features),
# or a push envelope that could not be decoded (stage.run). Replaying fails again.
NOT_REPLAYABLE = frozenset({"correction_not_applied", "invalid_envelope"})
# The topic each stage consumes (tickcast/deploy/topology.json); the clock feeds
# features and predict too, recognised by its `kind=clock` attribute.
PULL_S = 5.0
STAGE_TOPIC: dict[str, Topic] = {"ingest": "raw", "features": "ticks", "predict": "features"}


def original_attributes(attrs: Mapping[str, str]) -> dict[str, str]:
    out = {
        k: v
        for k, v in attrs.items()
        if k not in DEADLETTER_ATTRS
        and not k.startswith(ORIG)
        and not k.startswith(PUBSUB_DEADLETTER)
    }
    out.update({k.removeprefix(ORIG): v for k, v in attrs.items() if k.startswith(ORIG)})
    return out


def pubsub_route(attrs: Mapping[str, str], topic_prefix: str) -> Route | None:
    """The route whose subscription Pub/Sub dead-lettered this message from, if it did."""
    source = attrs.get(PUBSUB_SOURCE)
    if source is None or "stage" in attrs:  # stage: tickcast dead-lettered it itself
        return None
    name = source.rsplit("/", 1)[-1]
    return next((r for r in topology().routes if topic_prefix + r.subscription == name), None)


def described(attrs: Mapping[str, str], topic_prefix: str) -> dict[str, str]:
    """The attributes with `stage` and `reason`, also for Pub/Sub's own dead letters."""
    route = pubsub_route(attrs, topic_prefix)
    if route is None:
        return dict(attrs)
    return {**attrs, "stage": route.function, "reason": MAX_ATTEMPTS}


def target(attrs: Mapping[str, str], topic_prefix: str = "tickcast-") -> Topic | str:
    """The topic to republish to, or why the message is not replayable."""
    route = pubsub_route(attrs, topic_prefix)
    if route is not None:  # the route says exactly which topic, clock included
        return route.topic
    if PUBSUB_SOURCE in attrs and "stage" not in attrs:
        return f"dead-lettered by Pub/Sub from {attrs[PUBSUB_SOURCE]}: not a tickcast route"
    stage, reason = attrs.get("stage", ""), attrs.get("reason", "")
    if reason in NOT_REPLAYABLE:
        return f"not replayable ({reason})"
    if stage not in STAGE_TOPIC:
        return f"unknown stage {stage!r}"
    if stage != "ingest" and original_attributes(attrs).get("kind") == "clock":
        return "clock"
    return STAGE_TOPIC[stage]


@dataclass
class Outcome:
    republished: int = 0
    would_republish: int = 0
    skipped: int = 0
    failed: int = 0
    lines: list[str] = field(default_factory=list)


Publish = Callable[[Topic, bytes, dict[str, str]], None]


def replay(
    s: Settings,
    subscription: str,
    *,
    limit: int | None,
    dry_run: bool,
    stage: str | None = None,
    reason: str | None = None,
    subscriber: Any = None,
    publish: Publish | None = None,
    out: TextIO = sys.stdout,
) -> Outcome:
    from google.api_core.exceptions import DeadlineExceeded
    from google.cloud import pubsub_v1

    from tickcast import pubsub

    sub = subscriber or pubsub_v1.SubscriberClient()
    send: Publish = publish or (
        lambda topic, data, attrs: pubsub.publish(s, topic, [(data, "", attrs)])
    )
    result = Outcome()
    held: list[str] = []  # ack ids handed back at the end: leased until then, so pulled once
    seen = 0
    try:
        while limit is None or seen < limit:
            want = 100 if limit is None else min(100, limit - seen)
            try:
                resp = sub.pull(subscription=subscription, max_messages=want, timeout=PULL_S)
            except DeadlineExceeded:  # nothing arrived in PULL_S: the subscription is drained
                break
            if not resp.received_messages:
                break
            for rm in resp.received_messages:
                seen += 1
                m = rm.message
                attrs = described(m.attributes, s.topic_prefix)
                where = target(m.attributes, s.topic_prefix)
                head = (
                    f"{m.message_id} stage={attrs.get('stage', '')} "
                    f"reason={attrs.get('reason', '')} bytes={len(m.data)}"
                )
                if (stage and attrs.get("stage") != stage) or (
                    reason and attrs.get("reason") != reason
                ):
                    held.append(rm.ack_id)
                    continue
                if where not in STAGE_TOPIC.values() and where != "clock":
                    result.skipped += 1
                    result.lines.append(f"skip {head}: {where}")
                    held.append(rm.ack_id)
                    continue
                topic: Topic = where  # type: ignore[assignment]
                orig = original_attributes(attrs)
                if dry_run:
                    result.would_republish += 1
                    result.lines.append(f"would republish {head} -> {s.topic(topic)} attrs={orig}")
                    held.append(rm.ack_id)
                    continue
                try:
                    send(topic, m.data, orig)
                except Exception as exc:  # left in the subscription; the summary says so
                    result.failed += 1
                    result.lines.append(f"FAILED {head} -> {s.topic(topic)}: {exc}")
                    held.append(rm.ack_id)
                    continue
                sub.acknowledge(subscription=subscription, ack_ids=[rm.ack_id])
                result.republished += 1
                result.lines.append(f"republished {head} -> {s.topic(topic)}")
            for line in result.lines:
                print(line, file=out, flush=True)
            result.lines.clear()
    finally:
        for i in range(0, len(held), 1000):
            sub.modify_ack_deadline(
                subscription=subscription, ack_ids=held[i : i + 1000], ack_deadline_seconds=0
            )
    return result


def _replay_cmd(args: argparse.Namespace) -> int:
    s = Settings.from_env(os.environ)
    name = args.subscription or deadletter_subscription(s)
    if "/" not in name:
        name = f"projects/{s.project_id}/subscriptions/{name}"
    if args.limit is not None and args.limit < 1:
        raise TickcastError("--limit must be at least 1")
    r = replay(
        s,
        name,
        limit=args.limit,
        dry_run=args.dry_run,
        stage=args.stage,
        reason=args.reason,
    )
    if args.dry_run:
        print(f"dry run: would republish {r.would_republish}, skip {r.skipped}; nothing acked")
    else:
        print(f"republished {r.republished}, skipped {r.skipped}, failed {r.failed}")
    return 1 if r.failed else 0


def register(sub: Any) -> None:
    dp = sub.add_parser("deadletter", help="inspect and replay dead-lettered messages")
    dsub = dp.add_subparsers(dest="deadletter_command", required=True)
    rp = dsub.add_parser(
        "replay",
        help="republish dead letters to the topic their stage consumes (after a fix)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument(
        "--subscription",
        help="pull subscription on the dead-letter topic "
        "(default: TICKCAST_TOPIC_PREFIX + topology.json's deadletter_inspect)",
    )
    rp.add_argument("--limit", type=int, default=None, help="handle at most N messages")
    rp.add_argument("--dry-run", action="store_true", help="print what would be done; ack nothing")
    rp.add_argument("--stage", choices=sorted(STAGE_TOPIC), help="only this stage's dead letters")
    rp.add_argument("--reason", help="only dead letters with this reason attribute")
    rp.set_defaults(func=_replay_cmd)
