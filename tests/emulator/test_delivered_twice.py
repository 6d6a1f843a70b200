"""Fault drill: every message delivered twice, at every stage, leaves Firestore in
the same state as single delivery (ingest's done marks, features' batch ids,
predict's seq-keyed overwrites and score marks). Driven through the real
functions-framework wrappers against the emulators and redis-server."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from functions_framework import create_app

from tickcast import clients
from tickcast.replay import OHLCV, Series, bar_messages

ROOT = Path(__file__).resolve().parents[2]
BARS = 40
pytestmark = pytest.mark.emulator

VOLATILE = ("symbol", "trace", "updated_at", "expire_at")


def push(data: bytes, message_id: str, attributes: dict[str, str] | None = None) -> dict[str, Any]:
    message = {
        "data": base64.b64encode(data).decode(),
        "messageId": message_id,
        "attributes": attributes or {},
    }
    return {"message": message, "subscription": "projects/p/subscriptions/drill"}


def run_pipeline(symbol: str, times: int, puller: Any) -> None:
    apps = {
        n: create_app(
            target=n, source=str(ROOT / "functions" / n / "main.py"), signature_type="cloudevent"
        ).test_client()
        for n in ("ingest", "features", "predict")
    }
    ticks_sub, features_sub = puller("tickcast-ticks"), puller("tickcast-features")
    rows = [
        OHLCV(100 + i, 101 + i, 99 + i, 100 + i + (0.5 if i % 3 else -0.5), 1000 + i)
        for i in range(BARS)
    ]
    for i, (_due, body) in enumerate(
        bar_messages([Series(symbol, rows)], 1.0, backfill=0, limit=BARS)
    ):
        for _ in range(times):
            assert (
                apps["ingest"]
                .post("/", json=push(body, f"{symbol}-raw-{i}", {"format": "alpaca"}))
                .status_code
                == 200
            )
    ticks = [m for m in ticks_sub.pull(BARS, timeout_s=30) if m.ordering_key == symbol]
    ticks.sort(key=lambda m: orjson.loads(m.data)["ticks"][0]["ts"])
    for m in ticks:  # in order per symbol, as the ordering key guarantees
        for _ in range(times):
            assert (
                apps["features"].post("/", json=push(m.data, f"t-{m.message_id}")).status_code
                == 200
            )
    feats = [m for m in features_sub.pull(BARS - 1, timeout_s=30) if m.ordering_key == symbol]
    feats.sort(key=lambda m: orjson.loads(m.data)["seq"])
    for m in feats:
        for _ in range(times):
            assert (
                apps["predict"].post("/", json=push(m.data, f"f-{m.message_id}")).status_code == 200
            )


def state(symbol: str, project: str) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    db = clients.firestore_client(project)
    ref = db.collection("symbols").document(symbol)
    strip = lambda d: {k: v for k, v in (d or {}).items() if k not in VOLATILE}  # noqa: E731
    history = {int(d.id): strip(d.to_dict()) for d in ref.collection("predictions").stream()}
    return strip(ref.get().to_dict()), history


def _no_seq(score: Any) -> Any:
    """A score without the seq of the bar it was scored against (runs differ in time)."""
    if not isinstance(score, dict):
        return score
    return {
        k: {**v, "outcome": {o: x for o, x in v.get("outcome", {}).items() if o != "seq"}}
        if isinstance(v, dict)
        else v
        for k, v in score.items()
    }


def test_every_message_delivered_twice_ends_in_the_same_state(
    backends, puller, monkeypatch
) -> None:
    # Same wall-clock bars for both runs: the replay stamps bars relative to now.
    monkeypatch.setenv(
        "TICKCAST_LATEST_MIN_INTERVAL_MS", "0"
    )  # compare latest without coalescing timing
    # Bars replayed at today's time never cross a 09:30 New York session start: each
    # is its own VWAP session, as in the demo, so the features get ready.
    monkeypatch.setenv("TICKCAST_VWAP_ANCHOR", "bar")
    from tickcast.config import settings

    settings.cache_clear()
    try:
        run_pipeline("ONCE", 1, puller)
        run_pipeline("TWICE", 2, puller)
    finally:
        settings.cache_clear()
    latest_once, hist_once = state("ONCE", backends.project)
    latest_twice, hist_twice = state("TWICE", backends.project)
    assert len(hist_once) >= BARS - 2 and any(d.get("prediction") for d in hist_once.values())
    # Bars are stamped relative to each run's start: compare by position, not by seq.
    once = [hist_once[k] for k in sorted(hist_once)]
    twice = [hist_twice[k] for k in sorted(hist_twice)]
    drop_seq = lambda d: {k: v for k, v in d.items() if k not in ("seq", "bar", "outcome", "score")}  # noqa: E731
    assert [drop_seq(d) for d in once] == [drop_seq(d) for d in twice]
    assert [(d["bar"]["o"], d["bar"]["c"], d["bar"]["v"], d["bar"]["n"]) for d in once] == [
        (d["bar"]["o"], d["bar"]["c"], d["bar"]["v"], d["bar"]["n"]) for d in twice
    ]
    assert [_no_seq(d.get("score")) for d in once] == [_no_seq(d.get("score")) for d in twice]
    assert drop_seq(latest_once) == drop_seq(latest_twice)
