"""Budgets for history replays (`since` on subscribe, REST history pages).

A replay reads Firestore (one read per document) and fills the client's
queue, so a client could use `since` as a cheap way to make the bridge read
the whole history over and over. Each replayed document therefore spends one
token from two buckets: the connection's, and its credential's (shared by all
of that credential's connections and REST reads on this instance). Buckets
refill at a steady rate, so an honest client that reconnects and resumes is
never refused, while a client that asks for deep history again and again
gets `replay_budget_exceeded` (WebSocket: live updates follow) or HTTP 429.

Replays read on their own small thread pool (TICKCAST_WS_REPLAY_WORKERS), and
at most TICKCAST_WS_REPLAY_READS_PER_CONNECTION pages of one connection are in
flight: hole filling and credential lookups run on another pool
(TICKCAST_WS_LOOKUP_WORKERS) and never queue behind replays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tickcast.bridge.admission import TokenBucket
from tickcast.config import Settings


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class ReplayLimits:
    """The two budgets' sizes (documents) and refill rates (documents per second)."""

    connection_burst: int = _default("ws_replay_connection_burst")
    connection_rate: float = _default("ws_replay_connection_rate")
    credential_burst: int = _default("ws_replay_credential_burst")
    credential_rate: float = _default("ws_replay_credential_rate")

    @classmethod
    def from_settings(cls, cfg: Settings) -> ReplayLimits:
        return cls(
            cfg.ws_replay_connection_burst,
            cfg.ws_replay_connection_rate,
            cfg.ws_replay_credential_burst,
            cfg.ws_replay_credential_rate,
        )

    def describe(self) -> str:
        return (
            f"{self.connection_burst} per connection (+{self.connection_rate:g}/s), "
            f"{self.credential_burst} per credential (+{self.credential_rate:g}/s)"
        )


class ReplayBudgets:
    def __init__(
        self, limits: ReplayLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or ReplayLimits()
        self._clock = clock
        self._credentials: dict[str, TokenBucket] = {}
        self.refused = 0  # replays or REST pages cut short by a budget

    def connection(self) -> TokenBucket:
        lim = self.limits
        return TokenBucket(lim.connection_rate, self._clock, lim.connection_burst)

    def _credential(self, principal_id: str) -> TokenBucket:
        bucket = self._credentials.get(principal_id)
        if bucket is None:
            lim = self.limits
            bucket = TokenBucket(lim.credential_rate, self._clock, lim.credential_burst)
            self._credentials[principal_id] = bucket
        return bucket

    def available(self, connection: TokenBucket | None, principal_id: str) -> int:
        """How many documents may be read now: the smaller of the two budgets."""
        credential = self._credentials.get(principal_id)
        n = credential.available() if credential is not None else self.limits.credential_burst
        if connection is not None:
            n = min(n, connection.available())
        if n <= 0:
            self.refused += 1
        return max(0, n)

    def spend(self, connection: TokenBucket | None, principal_id: str, n: int) -> None:
        """Charge `n` documents read. Charged after the read, for what was there: a replay
        of three missed bars costs three, whatever page size it asked for. Reads in flight
        at once may overspend by a page each; the buckets go below zero and refill."""
        if n > 0:
            if connection is not None:
                connection.spend(n)
            self._credential(principal_id).spend(n)

    def prune(self) -> None:
        """A full bucket is the same as none: forget it (memory stays bounded by active
        credentials)."""
        for pid in [p for p, b in self._credentials.items() if b.full]:
            del self._credentials[pid]
