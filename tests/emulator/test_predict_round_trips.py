"""Firestore round trips per bar, counted on the gRPC channel to the real emulator
(issue 16, point 1): in steady state a bar is one read and one commit.

The client's channel is wrapped in a gRPC interceptor, so every RPC the stage
makes is counted whatever code path makes it (the transaction, a query, a
batch of counters, a rollback). Steady state: an instance that has handled a
bar before, bars that are not coalesced away, predictions maturing and scored
on every bar (live and shadow), a redelivery among them, and the bar on which
the model counters come due.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.cloud import firestore

from golden import READY
from tickcast.config import Settings
from tickcast.predict.document import history_id
from tickcast.predict.stage import Predictor
from tickcast.schema import Bar, FeaturesMessage

pytestmark = pytest.mark.emulator

# Weeks before every other test's bars, so no other test's owed marker is due here.
T0_MS = 1_709_562_600_000 - 20 * 86_400_000


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def ns(self) -> int:
        return self.ms * 1_000_000


class Counting(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Counts every RPC on a channel by method name (`BatchGetDocuments`, `Commit`, ...)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def _count(self, details: Any) -> None:
        self.calls[str(details.method).rsplit("/", 1)[-1]] += 1

    def intercept_unary_unary(self, cont: Any, details: Any, request: Any) -> Any:
        self._count(details)
        return cont(details, request)

    def intercept_unary_stream(self, cont: Any, details: Any, request: Any) -> Any:
        self._count(details)
        return cont(details, request)

    def intercept_stream_unary(self, cont: Any, details: Any, requests: Any) -> Any:
        self._count(details)
        return cont(details, requests)

    def intercept_stream_stream(self, cont: Any, details: Any, requests: Any) -> Any:
        self._count(details)
        return cont(details, requests)

    def take(self) -> Counter[str]:
        out, self.calls = self.calls, Counter()
        return out


def counted_client(project: str) -> tuple[firestore.Client, Counting]:
    """A client whose emulator channel goes through the counting interceptor."""
    client = firestore.Client(project=project)
    counting = Counting()
    make_channel = client._emulator_channel

    def channel(transport: Any) -> grpc.Channel:
        return grpc.intercept_channel(make_channel(transport), counting)

    client._emulator_channel = channel  # used once, when the client first makes an RPC
    return client, counting


def bar_msg(symbol: str, seq: int, close: float) -> FeaturesMessage:
    return FeaturesMessage(
        symbol=symbol,
        interval_s=1,
        seq=seq,
        bar=Bar(t=seq - 1000, o=close, h=close, l=close, c=close, v=10, vwap=close, n=1),
        features={**READY, "close": close},
        ready=True,
        reason=None,
        trace={"event": (seq - 100) * 1_000_000},
    )


Make = Callable[..., tuple[Predictor, firestore.Client, Counting]]


@pytest.fixture
def make(backends: Any) -> Iterator[Make]:
    made: list[firestore.Client] = []

    def factory(clock: Clock, **env: str) -> tuple[Predictor, firestore.Client, Counting]:
        client, counting = counted_client(backends.project)
        made.append(client)
        s = Settings.from_env({**backends.env, "TICKCAST_MODEL_REFRESH_S": "3600", **env})
        return Predictor(s, client, now_ns=clock.ns), client, counting

    yield factory
    for c in made:
        c.close()


def model_count(db: firestore.Client, model_id: str) -> int:
    doc = db.document(f"models/{model_id}").get().to_dict() or {}
    return int((doc.get("scores") or {}).get("count", 0))


def test_a_bar_in_steady_state_is_one_read_and_one_commit(make: Make, symbol: str) -> None:
    clock = Clock(T0_MS)
    p, db, rpcs = make(
        clock, TICKCAST_MODEL_URI="ensemble", TICKCAST_SHADOW_MODEL_URI="builtin:logreg-daily"
    )
    check = firestore.Client(project=db.project)  # reads for the assertions, not counted
    symbols = [symbol, symbol + "B", symbol + "C"]
    before = {m: model_count(check, m) for m in ("ensemble", "logreg-daily")}

    # Warm-up: the instance's first bars (its first bar sweeps `owed` once; the models'
    # metadata is published once).
    k = 1
    for sym in symbols:
        clock.ms = T0_MS + 1000 * k + 50
        p.on_features(bar_msg(sym, T0_MS + 1000 * k, 10.0))
    rpcs.take()

    # Steady state: each symbol's next one-second bars, handled 2 s apart (never
    # coalesced), each scoring the previous bar's live and shadow predictions; 8 bars
    # 2 s apart pass the counters' flush age, so one bar also writes them in its
    # commit; one bar is redelivered.
    per_bar: list[tuple[str, int, Counter[str]]] = []
    for k in range(2, 10):
        seq = T0_MS + 1000 * k
        for i, sym in enumerate(symbols):
            clock.ms = T0_MS + 2000 * k + i
            p.on_features(bar_msg(sym, seq, 10.0 + 0.1 * k + 0.01 * i))
            per_bar.append((sym, seq, rpcs.take()))
        if k == 5:
            clock.ms += 10
            p.on_features(bar_msg(symbols[0], seq, 10.0 + 0.1 * k))  # Pub/Sub redelivers
            per_bar.append((symbols[0], seq, rpcs.take()))

    print("\nround trips per steady-state bar:", [sum(c.values()) for *_, c in per_bar])
    print("by method, last bar:", dict(per_bar[-1][2]))
    for sym, seq, calls in per_bar:
        assert calls == Counter({"BatchGetDocuments": 1, "Commit": 1}), (sym, seq, calls)

    # The counters came due inside the run and were written by a bar's own commit.
    mid = {m: model_count(check, m) - before[m] for m in ("ensemble", "logreg-daily")}
    assert all(n > 0 for n in mid.values()), mid
    # The rest are pending in this instance; the clock writes them (off the bar path).
    p.flush_counters(clock.ms)
    scored = len(symbols) * 8  # bars 2..9 of each symbol score the one before, once
    for m in ("ensemble", "logreg-daily"):
        assert model_count(check, m) - before[m] == scored, m
    h = check.document(f"symbols/{symbol}/predictions/{history_id(T0_MS + 1000 * 5)}").get()
    assert set(h.get("score")) == {"prediction", "shadow"}
    check.close()


def test_settling_and_clock_work_is_off_the_bar_path(make: Make, symbol: str) -> None:
    """A burst leaves an owed latest write: the bar that owes is still two round trips;
    the instance that left the marker sweeps once, on its first bar after it is due."""
    clock = Clock(T0_MS + 3_600_000)
    p, db, rpcs = make(clock, TICKCAST_MODEL_URI="builtin:baseline")
    check = firestore.Client(project=db.project)  # reads for the assertions, not counted
    other = symbol + "Q"
    base = clock.ms
    clock.ms = base + 1050
    p.on_features(bar_msg(other, base + 1000, 10.0))  # warm-up
    rpcs.take()
    totals = []
    for i, k in enumerate((2, 3, 4)):  # bars closing 100 ms apart: the latter two are owed
        clock.ms = base + 4000 + 100 * i
        p.on_features(bar_msg(symbol, base + 1000 * k, 10.0 + k))
        totals.append(rpcs.take())
    assert all(c == Counter({"BatchGetDocuments": 1, "Commit": 1}) for c in totals), totals
    assert check.document(f"owed/{symbol}").get().exists
    clock.ms += 2000  # the marker is due; this instance's next bar, of any symbol, sweeps
    p.on_features(bar_msg(other, base + 5000, 10.5))
    calls = rpcs.take()
    assert calls["RunQuery"] == 1 and calls["BatchGetDocuments"] == 2, calls  # bar + settle
    assert check.document(f"symbols/{symbol}").get().get("seq") == base + 4000
    assert not check.document(f"owed/{symbol}").get().exists
    clock.ms += 2000
    p.on_features(bar_msg(other, base + 7000, 10.6))
    assert rpcs.take() == Counter({"BatchGetDocuments": 1, "Commit": 1})
    check.close()


def test_metadata_and_counters_of_one_model_share_one_write_in_a_bar_commit(
    backends: Any, symbol: str
) -> None:
    """A bar that first serves a version and flushes its counters writes models/{id} once,
    with both: the metadata merged beside atomic increments."""
    # Imported here, not at the top: the tests above also run against the code before
    # issue 16 (which has none of these), to show they fail there.
    from tickcast.predict import counters
    from tickcast.predict.barplan import BarPlan
    from tickcast.predict.coalesce import LatestPlan
    from tickcast.predict.scoring import Due, Outcome, Score
    from tickcast.predict.store import ModelMeta, PredictStore

    db, rpcs = counted_client(backends.project)
    model_id = f"meta{symbol.lower()}"
    score = Score(model_id, "v1", 0.7, True, 0.09, 0.36)
    flush = counters.tally([Due(1, "prediction", score, Outcome(2, 0.1, True))] * 3)
    meta = ModelMeta(model_id, "v1", "live", {"kind": "logistic"})
    seq = T0_MS + 86_400_000
    history = {"symbol": symbol, "interval_s": 1, "seq": seq, "updated_at": seq, "prediction": None}

    def planner(_: Any) -> BarPlan:
        return BarPlan(latest=LatestPlan("older", None, "keep", None), scores=[], alerts=[])

    for _ in range(2):  # twice: the increments add up, the metadata is merged again
        PredictStore(db).commit_bar(
            symbol, seq, 1000, history, 1, planner, flush=flush, publish=[meta], now_ms=seq
        )
        assert rpcs.take() == Counter({"BatchGetDocuments": 1, "Commit": 1})
    doc = db.document(f"models/{model_id}").get().to_dict()
    assert doc["versions"] == {"v1": {"kind": "logistic"}} and doc["role"] == "live"
    assert doc["scores"]["count"] == 6 and doc["scores"]["hits"] == 6
    assert doc["by_version"]["v1"]["brier_sum"] == pytest.approx(6 * 0.09)
    db.close()
