"""Coalescing writes of the latest document `symbols/{SYM}` (pure).

Firestore sustains about one write per second per document, and bars can close
much faster (a burst after a backlog, a replay, one-second bars). The rule:

- the history document `symbols/{SYM}/predictions/{seq}` is written for every bar;
- the latest document is written only if its own `updated_at` is at least
  `min_interval_ms` old, decided in the transaction that writes it, so the bound
  holds across instances (given clocks in sync to well under a second);
- it never moves backwards: an older `seq` than the stored one is not written;
- a bar skipped for being too soon is owed, and the debt is durable: the same
  commit that writes its history document writes the marker `owed/{SYM}`
  (`seq`, `due_ms`, and the latest document to write). Any instance settles it:
  the symbol's next bar, the next bar of any symbol once `due_ms` has passed
  (a sweep of `owed`), or a clock message. Nothing owed lives in one
  instance's memory.

Invariant (every change to `symbols/{SYM}` and `owed/{SYM}` is made in a
transaction that read both): the highest seq ever committed for a symbol is
max(latest seq, owed seq). The marker always holds the newest skipped bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Decision = Literal["write", "recent", "older"]
# What a commit does to owed/{SYM}: nothing, write the marker, or delete it.
MarkerOp = Literal["keep", "set", "delete"]
# What settling a marker does: write its document, reschedule it, drop it (the
# latest already holds that bar or a newer one), or nothing (no marker).
Settle = Literal["write", "recent", "done", "none"]


def decide(
    current_seq: int | None,
    current_updated_ms: int | None,
    seq: int,
    now_ms: int,
    min_interval_ms: int,
) -> Decision:
    if current_seq is not None and seq < current_seq:
        return "older"
    if current_updated_ms is not None and now_ms - current_updated_ms < min_interval_ms:
        return "recent"
    return "write"


@dataclass(frozen=True)
class Owed:
    """The marker `owed/{SYM}`: the newest bar whose latest write was skipped."""

    symbol: str
    seq: int
    due_ms: int  # when the latest document may be written again
    latest: dict[str, Any]  # the latest document owed

    def document(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "seq": self.seq,
            "due_ms": self.due_ms,
            "latest": self.latest,
        }

    @classmethod
    def from_document(cls, d: Mapping[str, Any] | None) -> Owed | None:
        if not d or not isinstance(d.get("latest"), dict):
            return None
        return cls(str(d["symbol"]), int(d["seq"]), int(d["due_ms"]), dict(d["latest"]))


@dataclass(frozen=True)
class LatestPlan:
    decision: Decision
    doc: dict[str, Any] | None  # what to write to symbols/{SYM} when decision == "write"
    marker: MarkerOp
    owed: Owed | None  # the marker to write when marker == "set"


def plan_latest(
    *,
    symbol: str,
    seq: int,
    latest: dict[str, Any],
    current_seq: int | None,
    current_updated_ms: int | None,
    owed: Owed | None,
    now_ms: int,
    min_interval_ms: int,
) -> LatestPlan:
    """A new bar's effect on symbols/{SYM} and owed/{SYM}.

    A write writes the newer of this bar and the owed one (a late bar never
    overwrites what is owed with something older) and so clears the marker. A
    skipped bar newer than the marker replaces it; an older one leaves it.
    """
    decision = decide(current_seq, current_updated_ms, seq, now_ms, min_interval_ms)
    if decision == "write":
        doc = latest
        if owed is not None and owed.seq > seq:
            doc = {**owed.latest, "updated_at": now_ms}
        return LatestPlan("write", doc, "delete" if owed is not None else "keep", None)
    if decision == "recent" and (owed is None or owed.seq < seq):
        due = (current_updated_ms or now_ms) + min_interval_ms
        return LatestPlan("recent", None, "set", Owed(symbol, seq, due, latest))
    return LatestPlan(decision, None, "keep", None)


def settle(
    current_seq: int | None,
    current_updated_ms: int | None,
    owed: Owed | None,
    now_ms: int,
    min_interval_ms: int,
) -> Settle:
    if owed is None:
        return "none"
    if current_seq is not None and current_seq >= owed.seq:
        return "done"
    decision = decide(current_seq, current_updated_ms, owed.seq, now_ms, min_interval_ms)
    return "recent" if decision == "recent" else "write"
