"""Live model scores, `models/{model_id}`: counted per instance, flushed in batches.

Every scored prediction adds to `scores.{count, hits, brier_sum, log_loss_sum}`
and to the same counters under `by_version.{model_version}` (atomic increments,
the public contract). Writing them per bar cost a round trip per bar and made
`models/{id}` a hot document (every symbol's bars on every instance, against
Firestore's ~1 sustained write per second per document). So an instance adds
its committed scores to `Pending` in memory and writes them as increments:
- inside a bar's own commit (no extra round trip), once they are FLUSH_MS old
  or MAX_PENDING scores; that bar's own scores ride along, in the same
  transaction as the score marks they count (exactly once);
- on every clock message the instance gets (`Predictor.on_clock`).

Loss bound: an instance that stops (scale-in, crash) loses the scores it
committed since its last flush: fewer than MAX_PENDING, and only those of its
bars in the last FLUSH_MS before its last bar (the next bar after that flushes).
The scores themselves are never lost: each history document keeps
`score.<role>` (model_id, model_version, hit, brier, log_loss), so the counters
can be recomputed from history within its retention. A flush whose commit
fails goes back into `Pending`; one whose outcome is unknown (a commit that
succeeded but whose reply was lost) may count twice, as a single increment
could before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from tickcast.predict.scoring import Due

FLUSH_MS = 10_000  # at most one write per instance per 10 s to each models/{id}
MAX_PENDING = 1_000


@dataclass
class Counts:
    count: int = 0
    hits: int = 0
    brier_sum: float = 0.0
    log_loss_sum: float = 0.0

    def add(self, o: Counts) -> None:
        self.count += o.count
        self.hits += o.hits
        self.brier_sum += o.brier_sum
        self.log_loss_sum += o.log_loss_sum

    def increments(self) -> dict[str, Any]:
        return {
            "count": firestore.Increment(self.count),
            "hits": firestore.Increment(self.hits),
            "brier_sum": firestore.Increment(self.brier_sum),
            "log_loss_sum": firestore.Increment(self.log_loss_sum),
        }


# (model_id, model_version) -> counts
Tally = dict[tuple[str, str], Counts]


def tally(dues: Iterable[Due]) -> Tally:
    out: Tally = {}
    for d in dues:
        s = d.score
        c = out.setdefault((s.model_id, s.model_version), Counts())
        c.count += 1
        c.hits += 1 if s.hit else 0
        c.brier_sum += s.brier
        c.log_loss_sum += s.log_loss
    return out


def merged(*tallies: Tally) -> Tally:
    out: Tally = {}
    for t in tallies:
        for key, c in t.items():
            out.setdefault(key, Counts()).add(c)
    return out


def documents(t: Tally) -> dict[str, dict[str, Any]]:
    """One merge-write per model id: its totals and its per-version counters."""
    by_model: dict[str, dict[str, Counts]] = {}
    for (model_id, version), c in t.items():
        by_model.setdefault(model_id, {})[version] = c
    out: dict[str, dict[str, Any]] = {}
    for model_id, versions in by_model.items():
        total = Counts()
        for c in versions.values():
            total.add(c)
        out[model_id] = {
            "model_id": model_id,
            "scores": total.increments(),
            # Nested keys are literal in a merge, so any version string is safe here.
            "by_version": {v: c.increments() for v, c in versions.items()},
        }
    return out


class Pending:
    """Scores this instance committed and has not yet written to models/{id}."""

    def __init__(self, flush_ms: int = FLUSH_MS, max_pending: int = MAX_PENDING) -> None:
        self.flush_ms = flush_ms
        self.max_pending = max_pending
        self._tally: Tally = {}
        self._n = 0
        self._since_ms: int | None = None  # when the oldest pending score was added
        self._retry = False  # a flush failed: due with the next commit
        self._lock = threading.Lock()

    def add(self, t: Tally, now_ms: int) -> None:
        if not t:
            return
        with self._lock:
            self._tally = merged(self._tally, t)
            self._n += sum(c.count for c in t.values())
            if self._since_ms is None:
                self._since_ms = now_ms

    def take(self, now_ms: int, force: bool = False) -> Tally | None:
        """Everything pending if it is due (or `force`), else None; the caller writes it
        and calls `put_back` if the write fails."""
        with self._lock:
            if self._since_ms is None:
                return {} if force else None
            due = (
                self._retry
                or self._n >= self.max_pending
                or now_ms - self._since_ms >= self.flush_ms
            )
            if not (due or force):
                return None
            out, self._tally, self._n, self._since_ms = self._tally, {}, 0, None
            self._retry = False
            return out

    def put_back(self, t: Tally) -> None:
        """A flush that failed: pending again, and due at once (the next commit retries it)."""
        if not t:
            return
        with self._lock:
            self._tally = merged(t, self._tally)
            self._n += sum(c.count for c in t.values())
            self._since_ms = self._since_ms if self._since_ms is not None else 0
            self._retry = True

    def __len__(self) -> int:
        return self._n
