"""Coalescing writes of the latest document `symbols/{SYM}` (pure).

Firestore sustains about one write per second per document, and bars can close
much faster (a burst after a backlog, a replay, one-second bars). The rule:

- the history document `symbols/{SYM}/predictions/{seq}` is written for every bar;
- the latest document is written only if its own `updated_at` is at least
  `min_interval_ms` old, decided in the transaction that writes it, so the bound
  holds across instances (given clocks in sync to well under a second);
- it never moves backwards: an older `seq` than the stored one is not written;
- a bar that was skipped for being too soon is kept, per instance, in `Pending`
  and written once the interval has passed, by whatever this instance handles
  next (any bar, or a clock message); a newer bar of that symbol supersedes it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

Decision = Literal["write", "recent", "older"]


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
class Held:
    symbol: str
    seq: int
    doc: dict[str, Any]
    due_ms: int


class Pending:
    """Latest documents this instance skipped and still owes (thread-safe)."""

    def __init__(self) -> None:
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()

    def hold(self, symbol: str, seq: int, doc: dict[str, Any], due_ms: int) -> None:
        with self._lock:
            cur = self._held.get(symbol)
            if cur is None or seq >= cur.seq:
                self._held[symbol] = Held(symbol, seq, doc, due_ms)

    def settled(self, symbol: str, seq: int) -> None:
        """The latest document now holds `seq`: anything up to it is owed no more."""
        with self._lock:
            cur = self._held.get(symbol)
            if cur is not None and cur.seq <= seq:
                del self._held[symbol]

    def due(self, now_ms: int, exclude: str | None = None) -> list[Held]:
        with self._lock:
            return [h for s, h in self._held.items() if h.due_ms <= now_ms and s != exclude]

    def get(self, symbol: str) -> Held | None:
        with self._lock:
            return self._held.get(symbol)

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)
