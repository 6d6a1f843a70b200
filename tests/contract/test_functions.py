"""Each function driven through functions-framework's own test client with the
golden Pub/Sub push bodies in tests/data/, against the real emulators and redis."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from functions_framework import create_app

from tickcast import clients
from tickcast.config import Topic, settings
from tickcast.pubsub import publish
from tickcast.schema import FeaturesMessage, TicksMessage

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

pytestmark = pytest.mark.emulator


def app_for(name: str) -> Any:
    return create_app(
        target=name, source=str(ROOT / "functions" / name / "main.py"), signature_type="cloudevent"
    ).test_client()


def golden(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def published_before_a_sentinel(puller: Any, topic: Topic) -> list[Any]:
    """What `puller` receives ahead of a sentinel published to `topic` now.

    A function returns only once Pub/Sub has every message it published
    (tickcast.pubsub.publish waits), so a message it should not have published is
    in the subscription before the sentinel: this fails on one, instead of waiting
    a while and hoping it would have come by then. One pull after the sentinel
    (without waiting) catches anything delivered out of order."""
    marker = uuid.uuid4().hex
    publish(settings(), topic, [(b"sentinel", "", {"sentinel": marker})])
    got: list[Any] = []
    deadline = time.monotonic() + 10
    while not any(m.attributes.get("sentinel") == marker for m in got):
        assert time.monotonic() < deadline, f"the sentinel never arrived on {topic}"
        got += puller.pull(1, timeout_s=max(0.1, deadline - time.monotonic()))
    resp = puller.client.pull(subscription=puller.path, max_messages=100, return_immediately=True)
    if resp.received_messages:
        puller.client.acknowledge(
            subscription=puller.path, ack_ids=[m.ack_id for m in resp.received_messages]
        )
        got += [m.message for m in resp.received_messages]
    return [m for m in got if m.attributes.get("sentinel") != marker]


def test_ingest_publishes_one_ticks_message_per_symbol_and_drops_a_redelivery(
    backends, puller
) -> None:
    ticks = puller("tickcast-ticks")
    client = app_for("ingest")
    body = golden("push_raw_alpaca_trades.json")
    assert client.post("/", json=body).status_code == 200
    msgs = ticks.pull(2)
    by_symbol = {m.ordering_key: TicksMessage.model_validate_json(m.data) for m in msgs}
    assert set(by_symbol) == {"GOLDA", "GOLDB"}
    a = by_symbol["GOLDA"]
    assert [t.price for t in a.ticks] == [126.55, 126.60]
    assert a.ticks[0].ts == 1709562600100123456  # nanoseconds survive
    assert a.trace["event"] == 1709562600600000000 and a.trace["ingest"] > 0

    # The same push again (a redelivery after success): its ticks are not published twice.
    assert client.post("/", json=body).status_code == 200
    assert published_before_a_sentinel(ticks, "ticks") == []

    # The same trades in a different message (a vendor resend): nothing is published.
    body["message"]["messageId"] = body["message"]["message_id"] = "other-message"
    assert client.post("/", json=body).status_code == 200
    assert published_before_a_sentinel(ticks, "ticks") == []


def test_ingest_redelivery_after_a_failed_publish_still_publishes(backends, puller) -> None:
    from tickcast.ingest.dedupe import Deduper
    from tickcast.ingest.formats import parse

    ticks = puller("tickcast-ticks")
    body = golden("push_raw_alpaca_trades.json")
    body["message"]["messageId"] = body["message"]["message_id"] = "crashed-once"
    trades = orjson.loads(base64.b64decode(body["message"]["data"]))
    for t in trades:
        t["i"] += 10_000_000  # this test's own trades
    raw = orjson.dumps(trades)
    body["message"]["data"] = base64.b64encode(raw).decode()
    # The first attempt claimed every tick, then died before publishing: no done mark.
    parsed = parse(
        raw, "alpaca", now_ns=1709562600 * 10**9, max_past_ns=10**18, max_future_ns=10**12
    )
    deduper = Deduper(clients.redis_client(settings().redis_url), 60)
    events = [(sym, t.ts // 1_000_000) for sym, t in parsed.ticks]
    assert deduper.claim([t.id for _, t in parsed.ticks], "crashed-once", events) == [True] * 3

    client = app_for("ingest")
    assert client.post("/", json=body).status_code == 200  # the redelivery
    got = [TicksMessage.model_validate_json(m.data) for m in ticks.pull(2)]
    assert sorted(m.symbol for m in got) == ["GOLDA", "GOLDB"]
    assert sum(len(m.ticks) for m in got) == 3
    assert client.post("/", json=body).status_code == 200  # once published, never again
    assert published_before_a_sentinel(ticks, "ticks") == []


def test_ingest_dead_letters_unparseable_input_with_original_bytes(backends, puller) -> None:
    dead = puller("tickcast-deadletter")
    body = golden("push_raw_truncated.json")
    assert app_for("ingest").post("/", json=body).status_code == 200  # acked, not retried forever
    (msg,) = dead.pull(1)
    assert msg.data == base64.b64decode(body["message"]["data"])
    assert msg.attributes["stage"] == "ingest"
    assert msg.attributes["reason"] == "invalid_json"
    assert msg.attributes["error"]


def test_features_closes_bars_by_event_time_and_is_idempotent(backends, puller) -> None:
    out = puller("tickcast-features")
    client = app_for("features")
    body = golden("push_ticks.json")
    assert client.post("/", json=body).status_code == 200
    (msg,) = out.pull(1)
    fm = FeaturesMessage.model_validate_json(msg.data)
    assert msg.ordering_key == "GOLDF"
    assert fm.seq == 1709562601000 and fm.interval_s == 1
    # Open and close by timestamp, not arrival order: the 9.5 trade arrived last
    # but printed mid-bar, so the close is the 10.5 printed at 900 ms.
    assert (fm.bar.o, fm.bar.h, fm.bar.l, fm.bar.c, fm.bar.v, fm.bar.n) == (
        10.0,
        10.5,
        9.5,
        10.5,
        20.0,
        3,
    )
    assert fm.bar.vwap == pytest.approx((10.0 * 5 + 10.5 * 5 + 9.5 * 10) / 20)
    assert fm.ready is False and "warming_up" in (fm.reason or "")

    # Redelivery: the same bar is republished (predict overwrites by seq), state unchanged.
    assert client.post("/", json=body).status_code == 200
    (again,) = out.pull(1)
    assert FeaturesMessage.model_validate_json(again.data) == fm
    assert published_before_a_sentinel(out, "features") == []


def test_features_dead_letters_an_invalid_ticks_message(backends, puller) -> None:
    dead = puller("tickcast-deadletter")
    body = golden("push_ticks.json")
    bad = orjson.loads(base64.b64decode(body["message"]["data"]))
    bad["ticks"][0]["price"] = -1
    body["message"]["data"] = base64.b64encode(orjson.dumps(bad)).decode()
    assert app_for("features").post("/", json=body).status_code == 200
    (msg,) = dead.pull(1)
    assert (
        msg.attributes["stage"] == "features"
        and msg.attributes["reason"] == "invalid_ticks_message"
    )
    assert "price" in msg.attributes["error"]


def test_features_failure_is_a_5xx_so_pubsub_retries(backends, monkeypatch) -> None:
    monkeypatch.setenv("TICKCAST_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    settings.cache_clear()
    clients.reset()
    try:
        client = app_for("features")
        assert client.post("/", json=golden("push_ticks.json")).status_code == 500
    finally:
        monkeypatch.undo()
        settings.cache_clear()
        clients.reset()


def test_predict_writes_latest_and_history(backends) -> None:
    body = golden("push_features.json")
    assert app_for("predict").post("/", json=body).status_code == 200
    db = clients.firestore_client(backends.project)
    latest = db.collection("symbols").document("GOLDP").get().to_dict()
    hist = (
        db.collection("symbols")
        .document("GOLDP")
        .collection("predictions")
        .document("001709562601000")
        .get()
    )
    assert hist.exists
    history = hist.to_dict()
    # History extends the latest document: the challenger's prediction and the TTL field.
    assert {k: history[k] for k in latest} == latest
    assert history["shadow"] is None and history["expire_at"].timestamp() > latest["seq"] / 1000
    assert "shadow" not in latest and "expire_at" not in latest
    p = latest["prediction"]
    assert latest["seq"] == 1709562601000 and latest["ready"] is True
    assert 0 < p["p_up"] < 1 and p["direction"] in ("up", "down", "flat")
    assert p["confidence"] == pytest.approx(max(p["p_up"], 1 - p["p_up"]))
    # The "why": the served model's inputs, largest contribution first.
    from tickcast.predict.inputs import INPUT_NAMES

    assert p["model_id"] == "logreg-daily"
    names = [f["name"] for f in p["factors"]]
    assert names and set(names) <= set(INPUT_NAMES)
    sizes = [abs(f["contribution"]) for f in p["factors"]]
    assert sizes == sorted(sizes, reverse=True)
    assert latest["trace"]["predict"] >= latest["trace"]["features"]


def test_predict_never_lets_an_older_bar_replace_the_latest(backends) -> None:
    body = golden("push_features.json")
    fm = orjson.loads(base64.b64decode(body["message"]["data"]))
    fm["symbol"] = "GOLDQ"
    client = app_for("predict")
    for seq in (1709562603000, 1709562602000):  # newer first, then a late older one
        fm["seq"] = seq
        body["message"]["data"] = base64.b64encode(orjson.dumps(fm)).decode()
        assert client.post("/", json=body).status_code == 200
    db = clients.firestore_client(backends.project)
    assert db.collection("symbols").document("GOLDQ").get().to_dict()["seq"] == 1709562603000
    assert (
        len(list(db.collection("symbols").document("GOLDQ").collection("predictions").stream()))
        == 2
    )


def test_predict_dead_letters_invalid_features(backends, puller) -> None:
    dead = puller("tickcast-deadletter")
    body = golden("push_features.json")
    body["message"]["data"] = base64.b64encode(b'{"v":1,"symbol":"bad symbol"}').decode()
    assert app_for("predict").post("/", json=body).status_code == 200
    (msg,) = dead.pull(1)
    assert msg.attributes["reason"] == "invalid_features_message"
