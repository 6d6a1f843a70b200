"""What one closed bar changes in Firestore, decided from what was read (pure).

`store.commit_bar` reads the latest document, the previous history documents
and the alert state in a transaction, calls `plan_bar`, and writes the result
in the same transaction, so the decision and the writes cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tickcast.predict import alerts, coalesce, scoring
from tickcast.predict.model import Features


@dataclass(frozen=True)
class BarReads:
    latest_seq: int | None = None
    latest_updated_ms: int | None = None
    previous: list[dict[str, Any]] = field(default_factory=list)  # history, newest first
    last_alerts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BarFacts:
    symbol: str
    seq: int
    interval_ms: int
    close: float
    ready: bool
    features: Features
    prediction: Mapping[str, Any] | None


@dataclass(frozen=True)
class BarPlan:
    latest: coalesce.Decision
    scores: list[scoring.Due]
    alerts: list[alerts.Alert]
    latest_due_ms: int | None = None  # when a skipped ("recent") latest write may happen


def plan_bar(
    reads: BarReads, bar: BarFacts, *, now_ms: int, min_interval_ms: int, rules: alerts.Rules
) -> BarPlan:
    decision = coalesce.decide(
        reads.latest_seq, reads.latest_updated_ms, bar.seq, now_ms, min_interval_ms
    )
    prev = reads.previous[0] if reads.previous else None
    candidates: list[alerts.Alert] = []
    if prev is not None:
        gap = alerts.stale(
            rules, bar.symbol, int(prev["seq"]), bar.seq - bar.interval_ms, bar.interval_ms
        )
        if gap is not None:
            candidates.append(gap)
    if bar.ready:
        candidates += alerts.signals(
            rules,
            bar.symbol,
            bar.seq,
            bar.features,
            bar.prediction,
            prev.get("prediction") if prev else None,
        )
    due = None
    if decision == "recent" and reads.latest_updated_ms is not None:
        due = reads.latest_updated_ms + min_interval_ms
    return BarPlan(
        latest=decision,
        latest_due_ms=due,
        scores=scoring.due(bar.seq, bar.close, reads.previous),
        alerts=alerts.after_cooldown(candidates, reads.last_alerts, rules.cooldown_ms),
    )
