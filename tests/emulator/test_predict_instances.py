"""Predict as several instances on one Firestore (issue 14, points 1 and 5).

Every bar goes through the real writer (`Predictor` and its store: coalescing,
scoring, alerts) into the Firestore emulator. Two `Predictor`s with their own
clients stand for two instances behind one push subscription; the stage with
its cache cleared between messages stands for a new instance per message.

- No stranded latest document: the last bar of a burst reaches symbols/{SYM}
  within two clock intervals of the silence that follows, whichever instance
  handled it and whichever gets the clock; the next bar of any symbol on the
  instance that left the marker, or a new instance's first bar, settles it
  sooner (a warm instance that owes nothing runs no sweep: issue 16).
- Scoring by seq: a prediction is scored against the bar exactly horizon_bars
  intervals later, whatever the arrival order, never against the bar after a
  gap, exactly once under redelivery to any instance; a shadow sharing the
  live model_id is refused.
- Round trips per bar: two (the transaction's read and commit); a late bar
  behind a gap adds its query (tests/emulator/test_predict_round_trips.py counts
  steady state on the gRPC channel).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.cloud import firestore

from golden import READY
from tickcast.config import Settings
from tickcast.features.vector import FEATURE_NAMES
from tickcast.features.vector import SCHEMA_VERSION as FEATURE_SCHEMA
from tickcast.predict import artifact, stage
from tickcast.predict.artifact import ArtifactMeta, Normalisation
from tickcast.predict.document import history_id
from tickcast.predict.inputs import INPUT_NAMES
from tickcast.predict.stage import Predictor, handle
from tickcast.pubsub import PushedMessage
from tickcast.schema import Bar, FeaturesMessage

pytestmark = pytest.mark.emulator

T0_MS = 1_709_562_600_000  # a bar boundary
CLOCK_MS = 60_000  # Cloud Scheduler's tickcast-clock: every minute
HOLD_MS = 30_000  # a latest write interval no slow machine outruns (real time below)


class Clock:
    """The time both instances see, advanced by the test: no sleeps."""

    def __init__(self, ms: int = T0_MS) -> None:
        self.ms = ms

    def ns(self) -> int:
        return self.ms * 1_000_000


def bar_msg(symbol: str, seq: int, close: float, interval_s: int = 1) -> FeaturesMessage:
    return FeaturesMessage(
        symbol=symbol,
        interval_s=interval_s,
        seq=seq,
        bar=Bar(
            t=seq - interval_s * 1000, o=close, h=close, l=close, c=close, v=10, vwap=close, n=1
        ),
        features={**READY, "close": close},
        ready=True,
        reason=None,
        trace={"event": (seq - 100) * 1_000_000},
    )


def save_model(tmp: Path, model_id: str, version: str, horizon: int = 1, coef: float = 0.3) -> str:
    meta = ArtifactMeta(
        model_id=model_id,
        model_version=version,
        horizon_bars=horizon,
        feature_schema=FEATURE_SCHEMA,
        features=list(FEATURE_NAMES),
        inputs=list(INPUT_NAMES),
        normalisation=Normalisation(mean=[0.0] * len(INPUT_NAMES), std=[1.0] * len(INPUT_NAMES)),
        l2=1.0,
        training={"sources": ["test"]},
        metrics={},
        code_version={"tickcast": "test", "git": None},
        created_at="2024-01-01T00:00:00Z",
    )
    stem = tmp / f"{model_id}-{version}"
    artifact.save(stem, meta, np.full(len(INPUT_NAMES), coef), 0.0)
    return str(stem) + ".json"


Make = Callable[..., tuple[Predictor, firestore.Client]]


@pytest.fixture
def make(backends: Any) -> Iterator[Make]:
    """make(clock, **env): one predict instance with its own Firestore client."""
    made: list[firestore.Client] = []

    def factory(clock: Clock, **env: str) -> tuple[Predictor, firestore.Client]:
        client = firestore.Client(project=backends.project)
        made.append(client)
        s = Settings.from_env({**backends.env, "TICKCAST_MODEL_REFRESH_S": "3600", **env})
        return Predictor(s, client, now_ns=clock.ns), client

    yield factory
    for c in made:
        c.close()


def latest_seq(db: firestore.Client, symbol: str) -> int | None:
    snap = db.document(f"symbols/{symbol}").get()
    return int(snap.get("seq")) if snap.exists else None


def burst(instances: list[Predictor], clock: Clock, symbol: str, n: int) -> list[int]:
    """n one-second bars closing at 10 per second (a backlog), round-robin over instances."""
    seqs = [T0_MS + 1000 * (i + 1) for i in range(n)]
    start = seqs[-1] + 10
    for i, seq in enumerate(seqs):
        clock.ms = start + 100 * i
        instances[i % len(instances)].on_features(bar_msg(symbol, seq, 10.0 + 0.01 * i))
    return seqs


# -- 1. no stranded latest document ------------------------------------------------


def test_the_last_bar_of_a_burst_reaches_latest_within_two_clock_intervals(
    make: Make, symbol: str
) -> None:
    clock = Clock()
    a, db = make(clock)
    b, _ = make(clock)
    seqs = burst([a, b], clock, symbol, 20)  # the last bar went to b
    assert latest_seq(db, symbol) != seqs[-1], "the burst's last bar was coalesced away"

    # Silence. The clock's push reaches one instance: a, which never saw the last bar.
    silence = clock.ms
    for tick in (1, 2):
        clock.ms = silence + tick * CLOCK_MS
        a.on_clock(clock.ms)
        if latest_seq(db, symbol) == seqs[-1]:
            break
    assert latest_seq(db, symbol) == seqs[-1]
    latest = db.document(f"symbols/{symbol}").get().to_dict()
    hist = db.document(f"symbols/{symbol}/predictions/{history_id(seqs[-1])}").get().to_dict()
    assert latest["bar"] == hist["bar"] and latest["prediction"] == hist["prediction"]
    assert "shadow" not in latest and "expire_at" not in latest
    assert not db.document(f"owed/{symbol}").get().exists


def test_a_new_instance_s_first_bar_of_any_symbol_settles_an_owed_latest(
    make: Make, symbol: str
) -> None:
    """The instance that owes may have stopped: a new instance sweeps on its first bar."""
    clock = Clock()
    a, db = make(clock)
    b, _ = make(clock)
    seqs = burst([a], clock, symbol, 5)  # all on a
    assert latest_seq(db, symbol) == seqs[0]
    clock.ms += 1000  # the interval has passed; a gets nothing more
    other = symbol + "Z"
    b.on_features(bar_msg(other, seqs[-1], 20.0))
    assert latest_seq(db, symbol) == seqs[-1]
    assert latest_seq(db, other) == seqs[-1]


def test_the_owing_instance_s_next_bar_of_any_symbol_settles_it_and_others_do_not_sweep(
    make: Make, symbol: str
) -> None:
    """A warm instance that left no marker runs no sweep on its bars (steady state: two
    round trips); the instance that left one sweeps once it is due; the clock always."""
    clock = Clock()
    a, db = make(clock)
    b, _ = make(clock)
    warm, other = symbol + "W", symbol + "Z"
    b.on_features(bar_msg(warm, T0_MS, 20.0))  # b's first bar (its start-up sweep)
    seqs = burst([a], clock, symbol, 5)  # all on a: a owes symbols/{symbol}
    assert latest_seq(db, symbol) == seqs[0]
    clock.ms += 1000  # due now
    b.on_features(bar_msg(warm, seqs[-1], 20.5))
    assert latest_seq(db, symbol) == seqs[0], "b left no marker: it does not sweep"
    a.on_features(bar_msg(other, seqs[-1], 20.0))
    assert latest_seq(db, symbol) == seqs[-1]
    assert not db.document(f"owed/{symbol}").get().exists


def test_an_instance_per_message_strands_nothing(backends: Any, symbol: str) -> None:
    """Through the function's own handler, with the instance cache cleared before
    every message: nothing a later message needs may live in a Predictor."""
    s = Settings.from_env(
        {
            **backends.env,
            "TICKCAST_MODEL_REFRESH_S": "3600",
            "TICKCAST_LATEST_MIN_INTERVAL_MS": str(HOLD_MS),
        }
    )
    seqs = [T0_MS + 1000 * (i + 1) for i in range(4)]
    for i, seq in enumerate(seqs):
        stage._predictor.cache_clear()
        handle(PushedMessage(data=bar_msg(symbol, seq, 10 + i).model_dump_json().encode()), s)
    db = firestore.Client(project=backends.project)
    assert latest_seq(db, symbol) == seqs[0]  # the rest came within HOLD_MS: owed
    stage._predictor.cache_clear()
    tick = (time.time_ns() // 1_000_000 + HOLD_MS + CLOCK_MS) * 1_000_000
    handle(PushedMessage(data=b'{"now_ns": %d}' % tick, attributes={"kind": "clock"}), s)
    assert latest_seq(db, symbol) == seqs[-1]
    stage._predictor.cache_clear()
    db.close()


# -- 5. scoring by seq, exactly once -------------------------------------------------


def scored(db: firestore.Client, symbol: str, seqs: list[int]) -> dict[int, dict[str, Any]]:
    return {
        s: db.document(f"symbols/{symbol}/predictions/{history_id(s)}").get().to_dict()
        for s in seqs
    }


def counts(db: firestore.Client, model_id: str, *flush: Predictor) -> tuple[int, dict[str, int]]:
    """models/{model_id}'s counts, once the given instances have flushed what they hold
    (the clock does it in service; `predict.counters`)."""
    for p in flush:
        p.flush_counters(0)
    doc = db.document(f"models/{model_id}").get().to_dict() or {}
    by_version = {v: int(c.get("count", 0)) for v, c in (doc.get("by_version") or {}).items()}
    return int((doc.get("scores") or {}).get("count", 0)), by_version


def test_out_of_order_bars_on_two_instances_are_scored_by_seq_exactly_once(
    make: Make, symbol: str, tmp_path: Path
) -> None:
    model_id = f"ooo{symbol.lower()}"
    live = save_model(tmp_path, model_id, "v1")
    shadow = save_model(tmp_path, model_id + "-c", "v1", coef=-0.2)
    clock = Clock()
    env = {"TICKCAST_MODEL_URI": live, "TICKCAST_SHADOW_MODEL_URI": shadow}
    a, db = make(clock, **env)
    b, _ = make(clock, **env)
    closes = [10.0, 10.5, 10.2, 10.8, 10.1, 10.3]
    seqs = [T0_MS + 1000 * (i + 1) for i in range(6)]
    msgs = [bar_msg(symbol, s, c) for s, c in zip(seqs, closes, strict=True)]
    order = [0, 2, 1, 4, 3, 5]  # pairs swapped in flight
    for n, i in enumerate(order):
        clock.ms += 2000
        (a, b)[n % 2].on_features(msgs[i])
    # Pub/Sub redelivers every message, to the other instance, newest first.
    for n, i in enumerate(reversed(order)):
        clock.ms += 2000
        (b, a)[n % 2].on_features(msgs[i])

    hist = scored(db, symbol, seqs)
    for i in range(5):
        h = hist[seqs[i]]
        assert h["outcome"] == {
            "seq": seqs[i + 1],
            "log_return": pytest.approx(math.log(closes[i + 1] / closes[i])),
            "up": closes[i + 1] > closes[i],
        }, f"bar {i} is scored against the bar one interval later"
        assert set(h["score"]) == {"prediction", "shadow"}
        assert h["score"]["prediction"]["hit"] == (
            (h["prediction"]["p_up"] > 0.5) == (closes[i + 1] > closes[i])
        )
    assert "score" not in hist[seqs[5]]
    for mid in (model_id, model_id + "-c"):
        assert counts(db, mid, a, b) == (5, {"v1": 5}), f"{mid}: each matured prediction once"


def test_concurrent_redeliveries_on_two_instances_score_each_prediction_once(
    make: Make, symbol: str, tmp_path: Path
) -> None:
    """Each bar delivered to both instances at the same moment, bars in shuffled
    order: the transactions that would score the same prediction conflict, and the
    retry sees the score."""
    model_id = f"cc{symbol.lower()}"
    clock = Clock()
    env = {"TICKCAST_MODEL_URI": save_model(tmp_path, model_id, "v1")}
    a, db = make(clock, **env)
    b, _ = make(clock, **env)
    seqs = [T0_MS + 1000 * (i + 1) for i in range(4)]
    msgs = [bar_msg(symbol, s, 10.0 + (i % 3) * 0.2) for i, s in enumerate(seqs)]
    with ThreadPoolExecutor(4) as pool:
        for i in (2, 0, 3, 1):  # each bar with its successor, twice each, all at once
            clock.ms += 2000
            both = [pool.submit(p.on_features, msgs[i]) for p in (a, b)]
            nxt = [pool.submit(p.on_features, msgs[(i + 1) % 4]) for p in (b, a)]
            for f in (*both, *nxt):
                f.result()
    assert counts(db, model_id, a, b) == (3, {"v1": 3})
    hist = scored(db, symbol, seqs)
    assert [h["outcome"]["seq"] for h in (hist[s] for s in seqs[:-1])] == seqs[1:]


def test_gapped_bars_are_neither_mis_scored_nor_skipped(
    make: Make, symbol: str, tmp_path: Path
) -> None:
    one, two = f"g1{symbol.lower()}", f"g2{symbol.lower()}"
    clock = Clock()
    a, db = make(
        clock,
        TICKCAST_MODEL_URI=save_model(tmp_path, one, "v1", horizon=1),
        TICKCAST_SHADOW_MODEL_URI=save_model(tmp_path, two, "v1", horizon=2),
    )
    closes = {1: 10.0, 2: 10.4, 4: 10.1, 5: 10.6, 6: 10.2}  # no bar ended at 3
    seqs = {k: T0_MS + 1000 * k for k in closes}
    for k, c in closes.items():
        clock.ms += 2000
        a.on_features(bar_msg(symbol, seqs[k], c))
    hist = scored(db, symbol, list(seqs.values()))

    def outcome_of(k: int, role: str) -> int | None:
        """The bar that scored the prediction `role` of bar k (None: unscored)."""
        h = hist[seqs[k]]
        score = (h.get("score") or {}).get(role)
        if not score:
            return None
        # The live outcome is also the document's own; each score carries its own.
        outcome = h["outcome"] if role == "prediction" else score.get("outcome") or {}
        return int(outcome["seq"]) if outcome else None

    # Horizon 1: 1 -> 2, 4 -> 5, 5 -> 6; the bar at 2 has no bar one interval later.
    assert [outcome_of(k, "prediction") for k in (1, 2, 4, 5, 6)] == [
        seqs[2],
        None,
        seqs[5],
        seqs[6],
        None,
    ]
    # Horizon 2: 2 -> 4 and 4 -> 6; 1 (target 3) and 5 (target 7) have none.
    assert [outcome_of(k, "shadow") for k in (1, 2, 4, 5, 6)] == [
        None,
        seqs[4],
        seqs[6],
        None,
        None,
    ]
    assert hist[seqs[2]]["score"]["shadow"]["outcome"]["log_return"] == pytest.approx(
        math.log(10.1 / 10.4)
    )
    assert hist[seqs[4]]["outcome"]["seq"] == seqs[5]  # the top-level outcome: the live one
    assert counts(db, one, a)[0] == 3 and counts(db, two)[0] == 2


def test_a_shadow_sharing_the_live_model_id_is_refused(
    make: Make, symbol: str, tmp_path: Path
) -> None:
    model_id = f"same{symbol.lower()}"
    clock = Clock()
    p, db = make(
        clock,
        TICKCAST_MODEL_URI=save_model(tmp_path, model_id, "v1"),
        TICKCAST_SHADOW_MODEL_URI=save_model(tmp_path, model_id, "v2", coef=-0.3),
    )
    assert p.registry.shadow() is None and p.registry.shadow_refused()
    for k in (1, 2, 3):
        clock.ms += 2000
        p.on_features(bar_msg(symbol, T0_MS + 1000 * k, 10.0 + k))
    h = scored(db, symbol, [T0_MS + 1000])[T0_MS + 1000]
    assert h["shadow"] is None and set(h["score"]) == {"prediction"}
    doc = db.document(f"models/{model_id}").get().to_dict()
    assert doc["role"] == "live" and set(doc["versions"]) == {"v1"}
    assert counts(db, model_id, p) == (2, {"v1": 2})


# -- round trips ----------------------------------------------------------------------


class Rpcs:
    """Counts the Firestore RPCs a client makes, by method."""

    METHODS = ("begin_transaction", "batch_get_documents", "commit", "run_query", "rollback")

    def __init__(self, client: firestore.Client) -> None:
        self.calls: Counter[str] = Counter()
        api = client._firestore_api
        for name in self.METHODS:
            real = getattr(api, name)

            def wrapped(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                self.calls[_name] += 1
                return _real(*args, **kwargs)

            setattr(api, name, wrapped)

    def take(self) -> Counter[str]:
        out, self.calls = self.calls, Counter()
        return out


def test_round_trips_per_bar_are_two_and_a_late_bar_adds_its_query(make: Make, symbol: str) -> None:
    # Days before every other test's bars: no one else's owed marker is due here.
    clock = Clock(T0_MS - 10 * 86_400_000)
    p, db = make(clock, TICKCAST_MODEL_URI="builtin:baseline")
    rpcs = Rpcs(db)
    base = clock.ms
    per_bar = []
    ks = [1, 2, 3, 4, 5, 9, 7, 10]  # a gap (6, 8 missing) and a late bar behind it (7)
    for k in ks:
        clock.ms += 2000  # one bar every 2 s: never coalesced, the sweep may run on each
        p.on_features(bar_msg(symbol, base + 1000 * k, 10.0 + 0.1 * k))
        per_bar.append(rpcs.take())
    totals = [sum(c.values()) for c in per_bar]
    print("\nround trips per bar:", totals, [dict(c) for c in per_bar[-3:]])
    late = per_bar[ks.index(7)]
    # The first bar also sweeps `owed` once (markers a stopped instance may have left).
    assert [t for i, t in enumerate(totals) if i not in (0, ks.index(7))] == [2] * 6
    assert late == Counter({"batch_get_documents": 1, "run_query": 1, "commit": 1})


def test_a_subscribed_client_receives_the_last_bar_of_a_burst(
    backends: Any, make: Make, symbol: str
) -> None:
    """The same burst and silence, with a WebSocket client subscribed to the symbol on
    a bridge of its own: the settled latest write reaches the client, not only Firestore."""
    import json

    from fastapi.testclient import TestClient

    from tickcast.bridge.app import create_app

    clock = Clock()
    a, db = make(clock)
    b, _ = make(clock)
    a.on_features(bar_msg(symbol, T0_MS, 10.0))  # the symbol exists before the client comes
    cfg = Settings.from_env({**backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"})
    app = create_app(cfg, firestore.Client(project=backends.project))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.receive_json()  # welcome
        ws.send_json({"type": "subscribe", "channel": "predictions", "symbol": symbol})
        assert ws.receive_json()["type"] == "subscribed"
        seqs = burst([a, b], clock, symbol, 20)  # the last bar went to b
        assert latest_seq(db, symbol) != seqs[-1], "the burst's last bar was coalesced away"
        silence = clock.ms
        for tick in (1, 2):
            clock.ms = silence + tick * CLOCK_MS
            a.on_clock(clock.ms)
        received: set[int] = set()
        deadline = time.monotonic() + 30
        while seqs[-1] not in received:
            assert time.monotonic() < deadline, f"the client never got {seqs[-1]}: {received}"
            msg = json.loads(ws.receive_text())
            if msg["type"] == "prediction" and msg["symbol"] == symbol:
                received.add(msg["seq"])
