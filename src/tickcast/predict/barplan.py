"""What one closed bar changes in Firestore, decided from what was read (pure).

`store.commit_bar` reads, in one transaction and one batch get, the latest
document, the owed marker, the alert state, the bar's own stored history
document (a redelivery), the history documents at exactly 1..lookback
intervals before it and at its own predictions' target seqs after it; calls
`plan_bar`; and writes the result in the same transaction, so the decision and
the writes cannot disagree.

This replaces `plan.py`'s positional reads (the previous N documents by a
query): scoring is by seq (`scoring`), and the previous bar for the alerts is
the bar one interval before, or else the newest bar the latest document and
the owed marker know of (`previous`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tickcast.predict import alerts, coalesce, scoring
from tickcast.predict.model import Features


@dataclass(frozen=True)
class BarReads:
    latest: dict[str, Any] | None = None  # symbols/{SYM}
    owed: coalesce.Owed | None = None  # owed/{SYM}
    own: dict[str, Any] | None = None  # this bar's history document as stored (a redelivery)
    earlier: dict[int, dict[str, Any]] = field(default_factory=dict)  # by seq, before this bar
    later: dict[int, dict[str, Any]] = field(default_factory=dict)  # by seq, after this bar
    previous: dict[str, Any] | None = None  # the newest history document before this bar
    last_alerts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BarFacts:
    symbol: str
    seq: int
    interval_ms: int
    close: float
    ready: bool
    features: Features
    history: dict[str, Any]  # this bar's history document
    latest: dict[str, Any]  # its latest document

    @property
    def prediction(self) -> Mapping[str, Any] | None:
        p: Mapping[str, Any] | None = self.history.get("prediction")
        return p


@dataclass(frozen=True)
class BarPlan:
    latest: coalesce.LatestPlan
    scores: list[scoring.Due]  # of earlier bars, and of this bar (seq == its own)
    alerts: list[alerts.Alert]


def earlier_seqs(seq: int, interval_ms: int, lookback: int) -> list[int]:
    """The seqs whose predictions this bar may realise: 1..lookback intervals before it."""
    return [s for k in range(1, lookback + 1) if (s := seq - k * interval_ms) > 0]


def later_seqs(history: Mapping[str, Any]) -> list[int]:
    """The seqs that realise this bar's own predictions, should they have arrived first."""
    iv = scoring.interval_ms(history)
    return sorted({int(history["seq"]) + h * iv for h in scoring.horizons(history)}) if iv else []


def previous(
    seq: int,
    interval_ms: int,
    latest: dict[str, Any] | None,
    owed: coalesce.Owed | None,
    earlier: Mapping[int, dict[str, Any]],
) -> tuple[bool, dict[str, Any] | None]:
    """(known, the newest bar before `seq`) from what the transaction read by id.

    The bar one interval before, if it exists. Otherwise, by the coalescing
    invariant, the newest bar ever committed is the latest document or the owed
    one: when both are older than `seq`, the newer of them is the previous bar
    (none at all: this is the symbol's first bar). When one is not older (a late
    bar after a gap), the reads cannot tell and the store asks a query.
    """
    if (doc := earlier.get(seq - interval_ms)) is not None:
        return True, doc
    known = [d for d in (latest, owed.latest if owed else None) if d is not None]
    if any(int(d["seq"]) >= seq for d in known):
        return False, None
    return True, max(known, key=lambda d: int(d["seq"]), default=None)


def plan_bar(
    reads: BarReads, bar: BarFacts, *, now_ms: int, min_interval_ms: int, rules: alerts.Rules
) -> BarPlan:
    cur = reads.latest
    latest = coalesce.plan_latest(
        symbol=bar.symbol,
        seq=bar.seq,
        latest=bar.latest,
        current_seq=int(cur["seq"]) if cur else None,
        current_updated_ms=_int_or_none(cur, "updated_at"),
        owed=reads.owed,
        now_ms=now_ms,
        min_interval_ms=min_interval_ms,
    )
    this = {**bar.history, "seq": bar.seq}
    scores = [d for s in sorted(reads.earlier) for d in scoring.matured(reads.earlier[s], this)]
    done = set((reads.own or {}).get("score") or {})  # what an earlier delivery scored
    scores += [d for s in sorted(reads.later) for d in scoring.matured(this, reads.later[s], done)]

    prev = reads.previous
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
    return BarPlan(
        latest=latest,
        scores=scores,
        alerts=alerts.after_cooldown(candidates, reads.last_alerts, rules.cooldown_ms),
    )


def _int_or_none(d: Mapping[str, Any] | None, key: str) -> int | None:
    v = (d or {}).get(key)
    return int(v) if isinstance(v, int | float) else None
