"""Model counters batched per instance (`predict.counters`): what is pending, when it is
due, what a flush writes, and that a failed flush is kept."""

from __future__ import annotations

import pytest
from google.cloud import firestore

from tickcast.predict import counters
from tickcast.predict.counters import Pending
from tickcast.predict.scoring import Due, Outcome, Score


def due(model_id: str, version: str, hit: bool, brier: float, seq: int = 1) -> Due:
    return Due(
        seq,
        "prediction",
        Score(model_id, version, 0.6, hit, brier, brier * 2),
        Outcome(seq + 1, 0.01, True),
    )


def test_documents_total_per_model_and_count_per_version() -> None:
    t = counters.tally(
        [due("m", "v1", True, 0.16), due("m", "v2", False, 0.36), due("n", "v1", True, 0.25)]
    )
    docs = counters.documents(t)
    assert set(docs) == {"m", "n"}
    m = docs["m"]
    assert isinstance(m["scores"]["count"], firestore.Increment)
    assert m["scores"]["count"].value == 2 and m["scores"]["hits"].value == 1
    assert m["scores"]["brier_sum"].value == pytest.approx(0.52)
    assert {v: c["count"].value for v, c in m["by_version"].items()} == {"v1": 1, "v2": 1}
    assert docs["n"]["scores"]["log_loss_sum"].value == pytest.approx(0.5)


def test_pending_is_due_by_age_or_by_count() -> None:
    p = Pending(flush_ms=10_000, max_pending=3)
    assert p.take(0) is None and p.take(0, force=True) == {}
    p.add(counters.tally([due("m", "v", True, 0.1)]), now_ms=1_000)
    assert p.take(10_999) is None  # younger than flush_ms
    got = p.take(11_000)
    assert got is not None and got[("m", "v")].count == 1 and len(p) == 0
    p.add(counters.tally([due("m", "v", True, 0.1, seq=s) for s in (1, 2)]), now_ms=20_000)
    assert p.take(20_001) is None
    p.add(counters.tally([due("m", "v", False, 0.1)]), now_ms=20_002)
    got = p.take(20_003)  # three pending: due by count
    assert got is not None and got[("m", "v")].count == 3 and got[("m", "v")].hits == 2


def test_a_failed_flush_is_kept_and_due_at_once() -> None:
    p = Pending(flush_ms=10_000)
    p.add(counters.tally([due("m", "v", True, 0.1)]), now_ms=1_000)
    taken = p.take(0, force=True)
    assert taken
    p.add(counters.tally([due("m", "v", False, 0.2)]), now_ms=1_500)
    p.put_back(taken)
    again = p.take(1_600)  # not 10 s old, but a failed flush is retried by the next commit
    assert again is not None and again[("m", "v")].count == 2 and again[("m", "v")].hits == 1
