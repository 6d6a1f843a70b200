"""Firestore edge of the predict stage: one transaction per closed bar.

Per bar, in ONE transaction (so the decisions and the writes agree, and a
redelivery sees what the first delivery wrote), with ONE batch get by id that
also begins the transaction (`txn`):
  reads   symbols/{SYM}                        latest seq and updated_at
          owed/{SYM}                           the latest write this symbol owes
          symbols/{SYM}/state/alerts           last alert seq per kind
          symbols/{SYM}/predictions/{S}        this bar as stored (a redelivery)
          .../predictions/{S - k*interval}     k = 1..lookback: predictions S may realise
          .../predictions/{S + h*interval}     h = this bar's horizons: bars that came first
  writes  symbols/{SYM}/predictions/{S}        always (merge: keeps an earlier `score`)
          symbols/{SYM}                        if the plan writes the latest
          owed/{SYM}                           set when a newer bar is skipped, deleted on a write
          .../predictions/{P}.score.<role>     each prediction the plan scores
          alerts/{SYM}-{seq}-{kind}            alerts past their cooldown
          symbols/{SYM}/state/alerts           their seqs
          models/{model_id}                    when due: the instance's pending counter
                                               increments plus this bar's (`counters`),
                                               and model metadata not yet published

The previous bar (for the gap and flip alerts) is found among those reads
(`barplan.previous`); only a late bar behind a gap needs a query for it.

Round trips per bar: BatchGetDocuments (begins the transaction) and Commit: 2.
A late bar behind a gap adds one RunQuery. (Before: BeginTransaction, the batch
get, Commit, a Commit of model counters, and an owed sweep's RunQuery: 5.) The
stage sweeps `owed` on the bar path only when this instance left a marker that
is due, or on its first bar (`stage`).

A transient error raises (the transaction is retried, then the message by
Pub/Sub); the score marks written with the scores make a retry a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from tickcast.predict import alerts, barplan, coalesce, counters, txn
from tickcast.predict.barplan import BarPlan, BarReads
from tickcast.predict.document import history_id
from tickcast.predict.scoring import Due

SYMBOLS = "symbols"
PREDICTIONS = "predictions"
ALERTS = "alerts"
MODELS = "models"
OWED = "owed"
STATE = "state"
ALERT_STATE = "alerts"

__all__ = ["ALERTS", "MODELS", "OWED", "PREDICTIONS", "SYMBOLS", "history_id"]

Planner = Callable[[BarReads], BarPlan]


@dataclass(frozen=True)
class Committed:
    plan: BarPlan
    queried: bool  # a query found the previous bar (a late bar behind a gap)
    flushed: bool  # the commit wrote the pending counters and this bar's own


@dataclass(frozen=True)
class ModelMeta:
    """What an instance publishes once per served model version, in models/{model_id}."""

    model_id: str
    model_version: str
    role: str
    description: dict[str, Any]

    def document(self, now_ms: int) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_version": self.model_version,
            "role": self.role,
            "served_at": now_ms,
            "versions": {self.model_version: self.description},
        }


def _score_updates(dues: list[Due]) -> dict[int, dict[str, Any]]:
    """One update per scored history document (a commit writes each document once).

    Each `score.<role>` carries its own `outcome`: the live and the shadow model
    may have different horizons, so different realising bars. The top-level
    `outcome` is the live prediction's.
    """
    out: dict[int, dict[str, Any]] = {}
    for d in dues:
        upd = out.setdefault(d.seq, {})
        o = {"seq": d.outcome.seq, "log_return": d.outcome.log_return, "up": d.outcome.up}
        upd[f"score.{d.role}"] = {**d.score.document(), "outcome": o}
        if d.role == "prediction":
            upd["outcome"] = o
    return out


def _own_score_fields(dues: list[Due]) -> dict[str, Any]:
    """This bar's own scores as nested fields of its history document (a merge)."""
    fields = _score_updates(dues)
    if not fields:
        return {}
    (upd,) = fields.values()
    own: dict[str, Any] = {
        "score": {k.removeprefix("score."): v for k, v in upd.items() if k.startswith("score.")}
    }
    if "outcome" in upd:
        own["outcome"] = upd["outcome"]
    return own


class PredictStore:
    def __init__(self, client: firestore.Client) -> None:
        self.client = client

    def _symbol(self, symbol: str) -> firestore.DocumentReference:
        return self.client.collection(SYMBOLS).document(symbol)

    def _owed(self, symbol: str) -> firestore.DocumentReference:
        return self.client.collection(OWED).document(symbol)

    def commit_bar(
        self,
        symbol: str,
        seq: int,
        interval_ms: int,
        history: dict[str, Any],
        lookback: int,
        planner: Planner,
        *,
        flush: counters.Tally | None = None,
        publish: Sequence[ModelMeta] = (),
        now_ms: int = 0,
    ) -> Committed:
        """One bar's transaction. `flush`: pending counters to write in this commit, with
        this bar's own scores added (None: this bar's scores stay for the caller to
        count later). `publish`: model metadata to write in this commit."""
        sym_ref = self._symbol(symbol)
        owed_ref = self._owed(symbol)
        hist = sym_ref.collection(PREDICTIONS)
        state_ref = sym_ref.collection(STATE).document(ALERT_STATE)
        own_ref = hist.document(history_id(seq))
        earlier = barplan.earlier_seqs(seq, interval_ms, lookback)
        later = barplan.later_seqs(history)
        by_seq = {s: hist.document(history_id(s)) for s in (*earlier, *later)}
        queried = False

        def body(snaps: txn.Snapshots, t: firestore.Transaction) -> BarPlan:
            nonlocal queried

            def doc(ref: firestore.DocumentReference) -> dict[str, Any] | None:
                snap = snaps.get(ref.path)
                return (snap.to_dict() or {}) if snap is not None and snap.exists else None

            found = {s: d for s, r in by_seq.items() if (d := doc(r)) is not None}
            latest, owed = doc(sym_ref), coalesce.Owed.from_document(doc(owed_ref))
            before = {s: d for s, d in found.items() if s < seq}
            known, prev = barplan.previous(seq, interval_ms, latest, owed, before)
            if not known:
                # Outside the transaction's reads on purpose: a query inside it locks
                # a range (on the emulator, far more than this symbol's history). The
                # previous bar only shapes alerts, whose ids and cooldown are idempotent.
                queried = True
                prev = self._newest_before(symbol, seq)
            reads = BarReads(
                latest=latest,
                owed=owed,
                own=doc(own_ref),
                earlier=before,
                later={s: d for s, d in found.items() if s > seq},
                previous=prev,
                last_alerts=dict((doc(state_ref) or {}).get("last", {})),
            )
            plan = planner(reads)
            own_scores = [d for d in plan.scores if d.seq == seq]
            t.set(own_ref, {**history, **_own_score_fields(own_scores)}, merge=True)
            lp = plan.latest
            if lp.decision == "write" and lp.doc is not None:
                t.set(sym_ref, lp.doc)
            if lp.marker == "set" and lp.owed is not None:
                t.set(owed_ref, lp.owed.document())
            elif lp.marker == "delete":
                t.delete(owed_ref)
            for p_seq, fields in _score_updates(plan.scores).items():
                if p_seq != seq:
                    t.update(hist.document(history_id(p_seq)), fields)
            for a in plan.alerts:
                t.set(
                    self.client.collection(ALERTS).document(a.doc_id),
                    a.document(history["updated_at"]),
                )
            if plan.alerts:
                t.set(state_ref, {"last": {a.kind: a.seq for a in plan.alerts}}, merge=True)
            # models/{id} is shared by every symbol: written here only once per
            # counters.FLUSH_MS per instance (and on first serving a version), so it
            # stays far under Firestore's per-document write rate.
            models: dict[str, dict[str, Any]] = {}
            for m in publish:
                models.setdefault(m.model_id, {}).update(m.document(now_ms))
            if flush is not None:
                mine = counters.tally(plan.scores)
                for model_id, inc in counters.documents(counters.merged(flush, mine)).items():
                    _deep_update(models.setdefault(model_id, {}), inc)
            for model_id, fields in models.items():
                t.set(self.client.collection(MODELS).document(model_id), fields, merge=True)
            return plan

        refs = [sym_ref, owed_ref, state_ref, own_ref, *by_seq.values()]
        result = txn.run(self.client, refs, body)
        return Committed(result, queried, flush is not None)

    def flush_counters(self, t: counters.Tally) -> None:
        """Pending counters alone (a clock message), one commit."""
        docs = counters.documents(t)
        if not docs:
            return
        batch = self.client.batch()
        for model_id, inc in docs.items():
            batch.set(self.client.collection(MODELS).document(model_id), inc, merge=True)
        batch.commit()

    def _newest_before(self, symbol: str, seq: int) -> dict[str, Any] | None:
        q = (
            self._symbol(symbol)
            .collection(PREDICTIONS)
            .where(filter=FieldFilter("seq", "<", seq))
            .order_by("seq", direction=firestore.Query.DESCENDING)
            .limit(1)
        )
        return next((d.to_dict() or {} for d in q.stream()), None)

    def owed_due(self, now_ms: int, limit: int) -> list[str]:
        """Symbols whose owed latest write may be made now, longest owed first."""
        q = (
            self.client.collection(OWED)
            .where(filter=FieldFilter("due_ms", "<=", now_ms))
            .order_by("due_ms")
            .limit(limit)
        )
        return [d.id for d in q.select([]).stream()]

    def settle_owed(
        self, symbol: str, now_ms: int, min_interval_ms: int
    ) -> tuple[coalesce.Settle, int | None]:
        """Make the owed latest write of `symbol` if it may be made now.

        Returns what was done and the seq the latest document holds afterwards.
        """
        sym_ref, owed_ref = self._symbol(symbol), self._owed(symbol)

        def body(
            snaps: txn.Snapshots, t: firestore.Transaction
        ) -> tuple[coalesce.Settle, int | None]:
            cur, marker = snaps[sym_ref.path], snaps[owed_ref.path]
            cur_doc = (cur.to_dict() or {}) if cur.exists else None
            owed = coalesce.Owed.from_document(marker.to_dict() if marker.exists else None)
            cur_seq = int(cur_doc["seq"]) if cur_doc else None
            updated = _int_or_none(cur_doc, "updated_at")
            decision = coalesce.settle(cur_seq, updated, owed, now_ms, min_interval_ms)
            if owed is None:
                if marker.exists:  # unreadable: nothing can settle it
                    t.delete(owed_ref)
                return decision, cur_seq
            if decision == "write":
                t.set(sym_ref, {**owed.latest, "updated_at": now_ms})
                t.delete(owed_ref)
                return decision, owed.seq
            if decision == "done":
                t.delete(owed_ref)
            else:  # another write was recent: due again after its interval
                t.update(owed_ref, {"due_ms": (updated or now_ms) + min_interval_ms})
            return decision, cur_seq

        return txn.run(self.client, [sym_ref, owed_ref], body)

    def silent_symbols(self, lower_seq: int, upper_seq: int) -> list[dict[str, Any]]:
        """Latest documents whose last bar ended in [lower_seq, upper_seq)."""
        q = (
            self.client.collection(SYMBOLS)
            .where(filter=FieldFilter("seq", ">=", lower_seq))
            .where(filter=FieldFilter("seq", "<", upper_seq))
        )
        return [d.to_dict() or {} for d in q.stream()]

    def commit_alert(self, alert: alerts.Alert, cooldown_ms: int, now_ms: int) -> bool:
        """One alert outside a bar (the clock's stale check), under the same cooldown state."""
        state_ref = self._symbol(alert.symbol).collection(STATE).document(ALERT_STATE)

        def body(snaps: txn.Snapshots, t: firestore.Transaction) -> bool:
            state = snaps[state_ref.path]
            last = dict((state.to_dict() or {}).get("last", {})) if state.exists else {}
            if not alerts.after_cooldown([alert], last, cooldown_ms):
                return False
            t.set(self.client.collection(ALERTS).document(alert.doc_id), alert.document(now_ms))
            t.set(state_ref, {"last": {alert.kind: alert.seq}}, merge=True)
            return True

        return txn.run(self.client, [state_ref], body)

    def publish_model(
        self, model_id: str, model_version: str, role: str, description: dict[str, Any], now_ms: int
    ) -> None:
        """Metadata of a model this instance serves, beside its live scores in models/{id}."""
        meta = ModelMeta(model_id, model_version, role, description)
        self.client.collection(MODELS).document(model_id).set(meta.document(now_ms), merge=True)


def live_scores(doc: dict[str, Any]) -> dict[str, float | int | None]:
    """hit_rate, brier, log_loss and count from a models/{id} document's counters."""
    s = doc.get("scores") or {}
    n = int(s.get("count", 0))
    return {
        "count": n,
        "hit_rate": s.get("hits", 0) / n if n else None,
        "brier": s.get("brier_sum", 0.0) / n if n else None,
        "log_loss": s.get("log_loss_sum", 0.0) / n if n else None,
    }


def write(client: firestore.Client, symbol: str, seq: int, doc: dict[str, Any]) -> bool:
    """History plus, if not older, the latest document, without coalescing or scoring.

    For tools and tests that seed documents; the stage uses `PredictStore`.
    """
    sym_ref = client.collection(SYMBOLS).document(symbol)
    hist_ref = sym_ref.collection(PREDICTIONS).document(history_id(seq))

    def body(snaps: txn.Snapshots, t: firestore.Transaction) -> bool:
        snap = snaps[sym_ref.path]
        current = snap.get("seq") if snap.exists else None
        t.set(hist_ref, doc)
        if current is None or seq >= int(current):
            t.set(sym_ref, doc)
            return True
        return False

    return txn.run(client, [sym_ref], body)


def _deep_update(into: dict[str, Any], fields: dict[str, Any]) -> None:
    """Merge nested maps (a model's metadata and its counters share `models/{id}`)."""
    for k, v in fields.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_update(into[k], v)
        else:
            into[k] = v


def _int_or_none(d: dict[str, Any] | None, key: str) -> int | None:
    v = (d or {}).get(key)
    return int(v) if isinstance(v, int | float) else None
