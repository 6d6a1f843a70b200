"""The predict stage against the real Firestore emulator: coalesced latest
writes under a burst, history with expire_at and shadow, idempotent outcome
scoring, alerts with cooldown across instances, stale feeds, model metadata in
models/{id} and a version swap without a redeploy."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from golden import READY
from tickcast.config import Settings
from tickcast.errors import PermanentError
from tickcast.features.vector import FEATURE_NAMES
from tickcast.predict import artifact
from tickcast.predict.artifact import ArtifactMeta, Normalisation
from tickcast.predict.coalesce import decide
from tickcast.predict.document import history_id
from tickcast.predict.inputs import INPUT_NAMES
from tickcast.predict.stage import Predictor, handle
from tickcast.predict.store import live_scores
from tickcast.pubsub import PushedMessage
from tickcast.schema import Bar, FeaturesMessage

pytestmark = pytest.mark.emulator

T0_MS = 1_709_562_600_000  # a bar boundary


READY_FEATURES = READY


class FakeClock:
    """Time the stage sees, advanced by the test: no sleeps, no timing assertions."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def ns(self) -> int:
        return self.ms * 1_000_000


class CommitLog:
    """Wraps the client's commit RPC: which documents each commit wrote, at what (fake) time."""

    def __init__(self, client: firestore.Client, clock: FakeClock) -> None:
        api = client._firestore_api
        real = api.commit
        self.writes: list[tuple[int, str]] = []

        def commit(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request") or args[0]
            for w in request["writes"]:
                name = w.update.name or w.delete or w.transform.document
                self.writes.append((clock.ms, name.split("/documents/", 1)[1]))
            return real(*args, **kwargs)

        api.commit = commit

    def per_doc_second(self) -> Counter[tuple[str, int]]:
        return Counter((doc, ms // 1000) for ms, doc in self.writes)


def settings(backends: Any, **env: str) -> Settings:
    return Settings.from_env({**backends.env, "TICKCAST_MODEL_REFRESH_S": "3600", **env})


def bar_msg(
    symbol: str,
    seq: int,
    close: float,
    *,
    interval_s: int = 1,
    ready: bool = True,
    **features: float | None,
) -> FeaturesMessage:
    t = seq - interval_s * 1000
    return FeaturesMessage(
        symbol=symbol,
        interval_s=interval_s,
        seq=seq,
        bar=Bar(t=t, o=close, h=close, l=close, c=close, v=10, vwap=close, n=1),
        features={**READY_FEATURES, "close": close, **features} if ready else {"close": close},
        ready=ready,
        reason=None if ready else "warming_up: 1 bars, waiting for sma_30",
        trace={"event": (seq - 100) * 1_000_000},
    )


@pytest.fixture
def make(backends: Any) -> Iterator[Callable[..., tuple[Predictor, FakeClock, firestore.Client]]]:
    made: list[firestore.Client] = []

    def factory(**env: str) -> tuple[Predictor, FakeClock, firestore.Client]:
        clock = FakeClock(T0_MS)
        client = firestore.Client(project=backends.project)  # its own, so wrapping stays local
        made.append(client)
        return Predictor(settings(backends, **env), client, now_ns=clock.ns), clock, client

    yield factory
    for c in made:
        c.close()


def test_a_burst_of_ten_bars_per_second_writes_latest_at_most_once_per_second(make, symbol) -> None:
    p, clock, db = make()
    log = CommitLog(db, clock)
    other = symbol + "B"
    # A backlog of one-second bars handled at 10 bars/s for 2 s.
    seqs = [T0_MS + 1000 * (i + 1) for i in range(20)]
    start = seqs[-1] + 5
    for i, seq in enumerate(seqs):
        clock.ms = start + 100 * i
        for sym in (symbol, other):
            p.on_features(bar_msg(sym, seq, 10.0 + 0.01 * i))

    counts = log.per_doc_second()
    for sym in (symbol, other):
        latest = [n for (doc, _), n in counts.items() if doc == f"symbols/{sym}"]
        history = [
            n for (doc, _), n in counts.items() if doc.startswith(f"symbols/{sym}/predictions/")
        ]
        assert max(latest) == 1, "the latest document is coalesced to one write per second"
        assert sum(latest) == 2  # one in each second of the burst
        assert sum(history) >= len(seqs)  # every bar has its history document
        assert {doc for (doc, _) in counts if doc.startswith(f"symbols/{sym}/predictions/")} == {
            f"symbols/{sym}/predictions/{history_id(s)}" for s in seqs
        }
        # The burst's final bar was skipped: the latest lags behind it, and it is owed,
        # in Firestore, where any instance sees it.
        assert db.document(f"symbols/{sym}").get().get("seq") in seqs[9:-1]
        assert db.document(f"owed/{sym}").get().get("seq") == seqs[-1]

    # The next clock tick (or any message after the interval) writes what is owed.
    clock.ms += 1000
    p.on_clock(clock.ms)
    for sym in (symbol, other):
        assert db.document(f"symbols/{sym}").get().get("seq") == seqs[-1]
        assert not db.document(f"owed/{sym}").get().exists
    counts = log.per_doc_second()
    assert (
        max(
            n
            for (doc, _), n in counts.items()
            if doc.startswith("symbols/") and doc.count("/") == 1
        )
        == 1
    )
    hist_writes = Counter(
        d for _, d in log.writes if d.startswith(f"symbols/{symbol}/predictions/")
    )
    # Each history document: written for its bar, then marked when the next bar scores it.
    assert max(hist_writes.values()) == 2 and len(hist_writes) == len(seqs)
    print(  # the figures docs/MODEL.md quotes (-s shows them)
        "\nburst of 20 bars at 10 bars/s, 2 symbols: symbols/{SYM} writes per second",
        [n for (doc, _), n in sorted(counts.items()) if doc == f"symbols/{symbol}"],
        f"(total {sum(n for (doc, _), n in counts.items() if doc == f'symbols/{symbol}')});",
        f"history: {len(hist_writes)} documents, {sum(hist_writes.values())} writes;",
        f"owed/{{SYM}}: {sum(1 for _, d in log.writes if d == f'owed/{symbol}')} writes",
    )


def test_latest_is_never_moved_backwards_and_older_bars_still_reach_history(make, symbol) -> None:
    p, clock, db = make()
    new, old = T0_MS + 3000, T0_MS + 2000
    clock.ms = new + 10
    p.on_features(bar_msg(symbol, new, 11.0))
    clock.ms += 5000
    p.on_features(bar_msg(symbol, old, 10.0))  # late
    assert db.document(f"symbols/{symbol}").get().get("seq") == new
    assert db.document(f"symbols/{symbol}/predictions/{history_id(old)}").get().exists
    assert decide(new, 0, old, 10**12, 1000) == "older"


def test_history_has_expire_at_and_shadow_latest_has_neither(make, symbol) -> None:
    p, clock, db = make(
        TICKCAST_MODEL_URI="builtin:baseline",
        TICKCAST_SHADOW_MODEL_URI="builtin:logreg-daily",
        TICKCAST_PREDICTION_RETENTION_DAYS="7",
    )
    seq = T0_MS + 1000
    clock.ms = seq + 1
    p.on_features(bar_msg(symbol, seq, 10.4))
    hist = db.document(f"symbols/{symbol}/predictions/{history_id(seq)}").get().to_dict()
    latest = db.document(f"symbols/{symbol}").get().to_dict()
    assert hist["expire_at"] == datetime.fromtimestamp(seq / 1000, UTC) + timedelta(days=7)
    assert hist["shadow"]["model_id"] == "logreg-daily"
    assert hist["prediction"]["model_id"] == "baseline"
    assert "shadow" not in latest and "expire_at" not in latest
    assert {k: v for k, v in hist.items() if k not in ("shadow", "expire_at")} == latest
    assert latest["trace"]["predict"] == clock.ns()


def test_not_ready_bar_says_why_and_predicts_nothing(make, symbol) -> None:
    p, _, db = make(TICKCAST_SHADOW_MODEL_URI="builtin:logreg-daily")
    seq = T0_MS + 1000
    p.on_features(bar_msg(symbol, seq, 10.0, ready=False))
    doc = db.document(f"symbols/{symbol}/predictions/{history_id(seq)}").get().to_dict()
    assert doc["ready"] is False and doc["prediction"] is None and doc["shadow"] is None
    assert doc["reason"].startswith("warming_up")


def _closes(n: int) -> list[float]:
    return [10.0 * math.exp(0.01 * math.sin(1.7 * i) + 0.002 * i) for i in range(n)]


def test_outcomes_are_scored_once_even_when_bars_are_redelivered(make, symbol, backends) -> None:
    p, clock, db = make(
        TICKCAST_MODEL_URI="ensemble", TICKCAST_SHADOW_MODEL_URI="builtin:logreg-daily"
    )
    closes = _closes(6)
    seqs = [T0_MS + 1000 * (i + 1) for i in range(6)]
    msgs = [bar_msg(symbol, s, c) for s, c in zip(seqs, closes, strict=True)]
    models = db.collection("models")
    before = {m: (models.document(m).get().to_dict() or {}) for m in ("ensemble", "logreg-daily")}
    for m in msgs:
        clock.ms += 2000
        p.on_features(m)
    # Every message again, in order and out of order (what Pub/Sub may do).
    for m in [*msgs, msgs[3], msgs[1]]:
        clock.ms += 2000
        p.on_features(m)

    hist = {
        s: db.document(f"symbols/{symbol}/predictions/{history_id(s)}").get().to_dict()
        for s in seqs
    }
    for prev, cur in itertools.pairwise(seqs):
        h = hist[prev]
        up = hist[cur]["bar"]["c"] > h["bar"]["c"]
        assert h["outcome"] == {
            "seq": cur,
            "log_return": pytest.approx(math.log(hist[cur]["bar"]["c"] / h["bar"]["c"])),
            "up": up,
        }
        for role in ("prediction", "shadow"):
            s = h["score"][role]
            assert s["hit"] == ((h[role]["p_up"] > 0.5) == up)
            assert s["brier"] == pytest.approx((h[role]["p_up"] - up) ** 2)
    assert "score" not in hist[seqs[-1]]  # its horizon has not ended

    p.flush_counters(clock.ms)  # what the clock does: counters are batched per instance
    for model_id, role in (("ensemble", "prediction"), ("logreg-daily", "shadow")):
        doc = models.document(model_id).get().to_dict()
        base = (before[model_id].get("scores") or {}).get("count", 0)
        assert doc["scores"]["count"] - base == 5  # 5 matured predictions, each counted once
        version = hist[seqs[0]][role]["model_version"]
        mine = [hist[s]["score"][role] for s in seqs[:-1]]
        by_version = doc["by_version"][version]
        assert by_version["hits"] >= sum(x["hit"] for x in mine)
        assert doc["versions"][version]["kind"] in ("ensemble", "logistic")
        assert live_scores(doc)["count"] == doc["scores"]["count"]


def test_alert_cooldown_is_shared_by_instances(make, symbol) -> None:
    a, clock_a, db = make(TICKCAST_ALERT_COOLDOWN_S="10")
    b, clock_b, _ = make(TICKCAST_ALERT_COOLDOWN_S="10")
    hot = {"rsi_14": 75.0}
    seqs = [T0_MS + 1000 * k for k in (1, 2, 3, 12)]
    for inst, clock, seq in zip(
        (a, b, a, b), (clock_a, clock_b, clock_a, clock_b), seqs, strict=True
    ):
        clock.ms = seq + 1
        inst.on_features(bar_msg(symbol, seq, 10.0, **hot))
    fired = sorted(
        d.get("seq")
        for d in db.collection("alerts").where(filter=FieldFilter("symbol", "==", symbol)).stream()
        if d.get("kind") == "rsi_overbought"
    )
    assert fired == [seqs[0], seqs[3]]  # 2 and 3 fall inside the 10 s cooldown
    doc = db.document(f"alerts/{symbol}-{seqs[0]}-rsi_overbought").get().to_dict()
    assert doc["value"] == 75.0 and doc["threshold"] == 70.0 and doc["created_at"] == seqs[0] + 1
    assert set(doc) == {
        "symbol",
        "seq",
        "kind",
        "message",
        "value",
        "threshold",
        "created_at",
        "expire_at",
    }


def test_stale_feed_is_raised_once_by_the_clock_or_the_next_bar(make, symbol) -> None:
    p, clock, db = make(TICKCAST_STALE_FEED_BARS="5", TICKCAST_BAR_SECONDS="1")
    # Beyond state_ttl from every other test's bars, so the clock sees only this symbol.
    last = T0_MS + 30 * 86_400_000
    clock.ms = last + 1
    p.on_features(bar_msg(symbol, last, 10.0))
    clock.ms = last + 3000
    assert p.on_clock(clock.ms) == 0  # 3 silent intervals: not yet
    clock.ms = last + 6000
    assert p.on_clock(clock.ms) == 1
    assert p.on_clock(clock.ms + 1000) == 0  # the same silence, already raised
    clock.ms = last + 9000
    p.on_features(bar_msg(symbol, last + 9000, 10.0))  # the feed resumes
    stale = [
        d.to_dict()
        for d in db.collection("alerts").where(filter=FieldFilter("symbol", "==", symbol)).stream()
    ]
    stale = [d for d in stale if d["kind"] == "stale_feed"]
    assert [d["seq"] for d in stale] == [last]

    # A silence seen only by the next bar (no clock routed to predict).
    q = symbol + "N"
    p.on_features(bar_msg(q, last, 10.0))
    p.on_features(bar_msg(q, last + 8000, 10.0))
    doc = db.document(f"alerts/{q}-{last}-stale_feed").get().to_dict()
    assert doc["value"] == 7.0 and doc["threshold"] == 5.0


def save(tmp: Path, model_id: str, version: str, coef: float) -> None:
    meta = ArtifactMeta(
        model_id=model_id,
        model_version=version,
        horizon_bars=1,
        feature_schema=1,
        features=list(FEATURE_NAMES),
        inputs=list(INPUT_NAMES),
        normalisation=Normalisation(mean=[0.0] * len(INPUT_NAMES), std=[1.0] * len(INPUT_NAMES)),
        l2=1.0,
        training={"sources": ["test"]},
        metrics={"walk_forward": {"logreg": {"accuracy": 0.5}}},
        code_version={"tickcast": "test", "git": None},
        created_at="2024-01-01T00:00:00Z",
    )
    artifact.save(tmp / f"{model_id}-{version}", meta, np.full(len(INPUT_NAMES), coef), 0.0)


def test_a_pointer_swap_changes_the_served_version_and_is_recorded(
    backends: Any, symbol: str, tmp_path: Path
) -> None:
    model_id = f"m{symbol.lower()}"
    save(tmp_path, model_id, "v1", 0.3)
    save(tmp_path, model_id, "v2", -0.3)
    pointer = tmp_path / "live.json"
    pointer.write_text(f'{{"pointer": "{model_id}-v1.json"}}')
    s = Settings.from_env(
        {**backends.env, "TICKCAST_MODEL_URI": str(pointer), "TICKCAST_MODEL_REFRESH_S": "0"}
    )
    clock = FakeClock(T0_MS)
    db = firestore.Client(project=backends.project)
    p = Predictor(s, db, now_ns=clock.ns)
    first, second = T0_MS + 1000, T0_MS + 2000
    p.on_features(bar_msg(symbol, first, 10.0))
    pointer.write_text(f'{{"pointer": "{model_id}-v2.json"}}')  # no redeploy, no restart
    clock.ms += 2000
    p.on_features(bar_msg(symbol, second, 10.1))

    versions = [
        db.document(f"symbols/{symbol}/predictions/{history_id(s)}")
        .get()
        .get("prediction")["model_version"]
        for s in (first, second)
    ]
    assert versions == ["v1", "v2"]
    p.flush_counters(clock.ms)  # what the clock does: counters are batched per instance
    doc = db.document(f"models/{model_id}").get().to_dict()
    assert doc["model_version"] == "v2" and doc["role"] == "live"
    assert set(doc["versions"]) == {"v1", "v2"}
    assert doc["versions"]["v1"]["uri"].endswith(f"{model_id}-v1.json")
    assert doc["versions"]["v2"]["metrics"]["walk_forward"]["logreg"]["accuracy"] == 0.5
    # The v1 prediction matured at the second bar: scored under its own version.
    assert doc["by_version"]["v1"]["count"] == 1 and "v2" not in doc["by_version"]
    db.close()


def test_clock_messages_reach_the_stage_and_bad_ones_are_permanent(backends: Any) -> None:
    s = Settings.from_env(backends.env)
    far_future = (T0_MS + 400 * 86_400_000) * 1_000_000  # no symbol is live then
    msg = PushedMessage(data=b'{"now_ns": %d}' % far_future, attributes={"kind": "clock"})
    assert handle(msg, s) == 0
    with pytest.raises(PermanentError, match="invalid_clock_message"):
        handle(PushedMessage(data=b"[1,2", attributes={"source": "cloud-scheduler"}), s)
