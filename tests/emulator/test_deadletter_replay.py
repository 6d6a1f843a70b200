"""`tickcast deadletter replay` on the Pub/Sub emulator: each dead letter goes back to
the topic its stage consumes, with its original bytes and attributes (the dead-letter
ones dropped); a dry run publishes and acks nothing; only what was republished is acked;
`--limit` bounds the run."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest

from tickcast import cli
from tickcast.config import Settings
from tickcast.ops.deadletter import replay
from tickcast.pubsub import dead_letter

pytestmark = pytest.mark.emulator


def _ids(messages: list[Any]) -> list[bytes]:
    return sorted(m.data for m in messages)


def test_replay_republishes_to_each_stage_topic_and_acks_only_that(
    backends: Any, puller: Any
) -> None:
    s = Settings.from_env(backends.env)
    tag = uuid.uuid4().hex[:8].encode()
    dl = puller(s.topic("deadletter"))
    raw, ticks, clock = (puller(s.topic(t)) for t in ("raw", "ticks", "clock"))

    dead_letter(
        s,
        b"raw:" + tag,
        stage="ingest",
        reason="unparseable",
        error="boom",
        extra={"message_id": "m1", "orig_format": "alpaca"},
    )
    dead_letter(
        s,
        b"ticks:" + tag,
        stage="features",
        reason="invalid_ticks_message",
        error="bad",
        extra={"message_id": "m2", "orig_batch_note": "x"},
    )
    dead_letter(
        s, b"clock:" + tag, stage="predict", reason="oops", error="e", extra={"orig_kind": "clock"}
    )
    dead_letter(  # a record, not a message: never replayed
        s,
        b"amend:" + tag,
        stage="features",
        reason="correction_not_applied",
        error="c",
        extra={"batch": "b1"},
    )

    out = io.StringIO()
    dry = replay(s, dl.path, limit=None, dry_run=True, out=out)
    assert (dry.would_republish, dry.skipped, dry.republished) == (3, 1, 0)
    assert f"-> {s.topic('raw')} attrs={{'format': 'alpaca'}}" in out.getvalue()
    assert raw.pull(1, timeout_s=1.5) == []  # nothing published

    done = replay(s, dl.path, limit=None, dry_run=False, out=io.StringIO())
    assert (done.republished, done.skipped, done.failed) == (3, 1, 0)

    (r,) = raw.pull(1)
    assert (r.data, dict(r.attributes)) == (b"raw:" + tag, {"format": "alpaca"})
    (t,) = ticks.pull(1)
    assert (t.data, dict(t.attributes)) == (b"ticks:" + tag, {"batch_note": "x"})
    (c,) = clock.pull(1)
    assert (c.data, dict(c.attributes)) == (b"clock:" + tag, {"kind": "clock"})
    # Acked only what it republished: the record is still there, and only it.
    left = dl.pull(5, timeout_s=4)
    assert _ids(left) == [b"amend:" + tag]


def test_limit_bounds_a_run_and_the_cli_runs_it(
    backends: Any,
    puller: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Settings.from_env(backends.env)
    for k, v in backends.env.items():
        monkeypatch.setenv(k, v)
    dl = puller(s.topic("deadletter"))
    raw = puller(s.topic("raw"))
    bodies = [f"m{i}:{uuid.uuid4().hex[:6]}".encode() for i in range(3)]
    for b in bodies:
        dead_letter(s, b, stage="ingest", reason="r", error="e")

    assert cli.main(["deadletter", "replay", "--subscription", dl.path, "--dry-run"]) == 0
    assert "would republish 3, skip 0; nothing acked" in capsys.readouterr().out

    assert cli.main(["deadletter", "replay", "--subscription", dl.path, "--limit", "2"]) == 0
    assert "republished 2, skipped 0, failed 0" in capsys.readouterr().out
    got = raw.pull(3, timeout_s=3)
    assert len(got) == 2 and set(_ids(got)) < set(bodies)
    left = dl.pull(3, timeout_s=4)
    assert len(left) == 1 and _ids(left + got) == sorted(bodies)


def test_replay_sends_pubsubs_own_dead_letters_back_along_their_route(
    backends: Any, puller: Any
) -> None:
    """A push that failed `max_delivery_attempts` times is dead-lettered by Pub/Sub,
    not by tickcast: no `stage`, only Pub/Sub's CloudPubSubDeadLetterSource*
    attributes. The source subscription names the route, so it goes back to the
    route's topic (the clock one included) with only its own attributes."""
    from tickcast import pubsub

    s = Settings.from_env(backends.env)
    tag = uuid.uuid4().hex[:8].encode()
    dl = puller(s.topic("deadletter"))
    raw, clock = puller(s.topic("raw")), puller(s.topic("clock"))

    def by_pubsub(data: bytes, subscription: str, **orig: str) -> None:
        attrs = {
            "CloudPubSubDeadLetterSourceSubscription": (
                f"projects/{s.project_id}/subscriptions/{subscription}"
            ),
            "CloudPubSubDeadLetterSourceSubscriptionProject": s.project_id,
            "CloudPubSubDeadLetterSourceDeliveryCount": "10",
            "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-12-03T16:00:00.000Z",
            **orig,
        }
        pubsub.publish(s, "deadletter", [(data, "", attrs)])

    by_pubsub(b"raw:" + tag, f"{s.topic_prefix}raw-ingest", format="polygon")
    by_pubsub(b"clock:" + tag, f"{s.topic_prefix}clock-predict", kind="clock")
    by_pubsub(b"other:" + tag, "someone-elses-subscription")

    out = io.StringIO()
    done = replay(s, dl.path, limit=None, dry_run=False, out=out)
    assert (done.republished, done.skipped, done.failed) == (2, 1, 0), out.getvalue()
    assert "stage=ingest reason=max_delivery_attempts" in out.getvalue()
    (r,) = raw.pull(1)
    assert (r.data, dict(r.attributes)) == (b"raw:" + tag, {"format": "polygon"})
    (c,) = clock.pull(1)
    assert (c.data, dict(c.attributes)) == (b"clock:" + tag, {"kind": "clock"})
    assert _ids(dl.pull(5, timeout_s=4)) == [b"other:" + tag]
    assert "not a tickcast route" in out.getvalue()
