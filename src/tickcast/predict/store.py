"""Firestore edge of the predict stage: one transaction per closed bar.

Per bar, in ONE transaction (so the decisions and the writes agree, and a
redelivery sees what the first delivery wrote):
  reads   symbols/{SYM}                        latest seq and updated_at
          symbols/{SYM}/predictions, seq < S   the previous documents, newest first
          symbols/{SYM}/state/alerts           last alert seq per kind
  writes  symbols/{SYM}/predictions/{S}        always (merge: keeps an earlier `score`)
          symbols/{SYM}                        if `plan.latest == "write"`
          .../predictions/{P}.score.<role>     each prediction whose horizon ended at S
          alerts/{SYM}-{seq}-{kind}            alerts past their cooldown
          symbols/{SYM}/state/alerts           their seqs

After the commit, one batch adds the scores to `models/{model_id}` with atomic
increments (outside the transaction: every symbol shares that document).

A transient error raises (the transaction is retried by the client, then the
message by Pub/Sub); the marks written with the scores make a retry a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from tickcast.predict import alerts, coalesce
from tickcast.predict.document import history_id
from tickcast.predict.plan import BarPlan, BarReads
from tickcast.predict.scoring import Due

SYMBOLS = "symbols"
PREDICTIONS = "predictions"
ALERTS = "alerts"
MODELS = "models"
STATE = "state"
ALERT_STATE = "alerts"

__all__ = ["ALERTS", "MODELS", "PREDICTIONS", "SYMBOLS", "history_id"]

Planner = Callable[[BarReads], BarPlan]


def _score_updates(dues: list[Due]) -> dict[int, dict[str, Any]]:
    """One update per scored history document (a commit writes each document once)."""
    out: dict[int, dict[str, Any]] = {}
    for d in dues:
        upd = out.setdefault(
            d.seq,
            {
                "outcome": {
                    "seq": d.outcome.seq,
                    "log_return": d.outcome.log_return,
                    "up": d.outcome.up,
                }
            },
        )
        upd[f"score.{d.role}"] = d.score.document()
    return out


def _model_increments(dues: list[Due]) -> dict[str, dict[str, Any]]:
    """Atomic counter increments per model id (and per version inside it)."""
    totals: dict[str, dict[str, dict[str, float]]] = {}
    for d in dues:
        s = d.score
        for key in ("*", s.model_version):
            c = totals.setdefault(s.model_id, {}).setdefault(
                key, {"count": 0, "hits": 0, "brier_sum": 0.0, "log_loss_sum": 0.0}
            )
            c["count"] += 1
            c["hits"] += 1 if s.hit else 0
            c["brier_sum"] += s.brier
            c["log_loss_sum"] += s.log_loss

    def inc(c: dict[str, float]) -> dict[str, Any]:
        return {k: firestore.Increment(v) for k, v in c.items()}

    return {
        model_id: {
            "model_id": model_id,
            "scores": inc(by_key.pop("*")),
            # Nested keys are literal in a merge, so any version string is safe here.
            "by_version": {v: inc(c) for v, c in by_key.items()},
        }
        for model_id, by_key in totals.items()
    }


class PredictStore:
    def __init__(self, client: firestore.Client) -> None:
        self.client = client

    def _symbol(self, symbol: str) -> firestore.DocumentReference:
        return self.client.collection(SYMBOLS).document(symbol)

    def commit_bar(
        self,
        symbol: str,
        seq: int,
        history: dict[str, Any],
        latest: dict[str, Any],
        lookback: int,
        planner: Planner,
    ) -> BarPlan:
        sym_ref = self._symbol(symbol)
        hist = sym_ref.collection(PREDICTIONS)
        state_ref = sym_ref.collection(STATE).document(ALERT_STATE)
        previous_q = (
            hist.where(filter=FieldFilter("seq", "<", seq))
            .order_by("seq", direction=firestore.Query.DESCENDING)
            .limit(lookback)
        )

        # The query runs before the transaction and only names the documents; the
        # transaction reads them by id. A query inside a transaction locks a range
        # (on the emulator, far more than this symbol's history), so every symbol's
        # bar would queue behind every other's.
        previous_refs = [d.reference for d in previous_q.select([]).stream()]

        @firestore.transactional
        def txn(t: firestore.Transaction) -> BarPlan:
            snaps = {d.reference.path: d for d in t.get_all([sym_ref, state_ref, *previous_refs])}
            cur, state = snaps[sym_ref.path], snaps[state_ref.path]
            previous = [
                snaps[r.path].to_dict() or {} for r in previous_refs if snaps[r.path].exists
            ]
            reads = BarReads(
                latest_seq=int(cur.get("seq")) if cur.exists else None,
                latest_updated_ms=_int_or_none(cur.to_dict(), "updated_at") if cur.exists else None,
                previous=previous,
                last_alerts=dict((state.to_dict() or {}).get("last", {})) if state.exists else {},
            )
            plan = planner(reads)
            t.set(hist.document(history_id(seq)), history, merge=True)
            if plan.latest == "write":
                t.set(sym_ref, latest)
            for p_seq, fields in _score_updates(plan.scores).items():
                t.update(hist.document(history_id(p_seq)), fields)
            for a in plan.alerts:
                t.set(
                    self.client.collection(ALERTS).document(a.doc_id),
                    a.document(history["updated_at"]),
                )
            if plan.alerts:
                t.set(state_ref, {"last": {a.kind: a.seq for a in plan.alerts}}, merge=True)
            return plan

        result: BarPlan = txn(self.client.transaction())
        # Model counters are shared by every symbol: incremented outside the per-symbol
        # transaction, or every bar of every symbol would queue on one document's lock.
        # The score marks above make scoring exactly-once per prediction; a crash between
        # the commit and these increments under-counts, never double-counts.
        increments = _model_increments(result.scores)
        if increments:
            batch = self.client.batch()
            for model_id, inc in increments.items():
                batch.set(self.client.collection(MODELS).document(model_id), inc, merge=True)
            batch.commit()
        return result

    def write_latest(
        self, symbol: str, seq: int, doc: dict[str, Any], now_ms: int, min_interval_ms: int
    ) -> tuple[coalesce.Decision, int | None]:
        """Catch-up of a held latest document. Returns the decision and the stored updated_at."""
        sym_ref = self._symbol(symbol)

        @firestore.transactional
        def txn(t: firestore.Transaction) -> tuple[coalesce.Decision, int | None]:
            cur = sym_ref.get(transaction=t)
            cur_seq = int(cur.get("seq")) if cur.exists else None
            updated = _int_or_none(cur.to_dict(), "updated_at") if cur.exists else None
            decision = coalesce.decide(cur_seq, updated, seq, now_ms, min_interval_ms)
            if decision == "write":
                t.set(sym_ref, {**doc, "updated_at": now_ms})
            return decision, updated

        result: tuple[coalesce.Decision, int | None] = txn(self.client.transaction())
        return result

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

        @firestore.transactional
        def txn(t: firestore.Transaction) -> bool:
            state = state_ref.get(transaction=t)
            last = dict((state.to_dict() or {}).get("last", {})) if state.exists else {}
            if not alerts.after_cooldown([alert], last, cooldown_ms):
                return False
            t.set(self.client.collection(ALERTS).document(alert.doc_id), alert.document(now_ms))
            t.set(state_ref, {"last": {alert.kind: alert.seq}}, merge=True)
            return True

        return bool(txn(self.client.transaction()))

    def publish_model(
        self, model_id: str, model_version: str, role: str, description: dict[str, Any], now_ms: int
    ) -> None:
        """Metadata of a model this instance serves, beside its live scores in models/{id}."""
        self.client.collection(MODELS).document(model_id).set(
            {
                "model_id": model_id,
                "model_version": model_version,
                "role": role,
                "served_at": now_ms,
                "versions": {model_version: description},
            },
            merge=True,
        )


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

    @firestore.transactional
    def txn(t: firestore.Transaction) -> bool:
        snap = sym_ref.get(transaction=t)
        current = snap.get("seq") if snap.exists else None
        t.set(hist_ref, doc)
        if current is None or seq >= int(current):
            t.set(sym_ref, doc)
            return True
        return False

    return bool(txn(client.transaction()))


def _int_or_none(d: dict[str, Any] | None, key: str) -> int | None:
    v = (d or {}).get(key)
    return int(v) if isinstance(v, int | float) else None
