"""Per-credential connection and subscription counts, and the per-connection
message rate limit. Counts are per instance: Cloud Run instances share nothing,
so a key's effective cap is its limit times the instances serving it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from tickcast.bridge.principal import Principal


class Admission:
    def __init__(self) -> None:
        self.connections: Counter[str] = Counter()
        self.subscriptions: Counter[str] = Counter()

    def connect(self, p: Principal) -> bool:
        if self.connections[p.id] >= p.limits.max_connections:
            return False
        self.connections[p.id] += 1
        return True

    def disconnect(self, p: Principal, subscriptions: int) -> None:
        self._sub(self.connections, p.id, 1)
        self._sub(self.subscriptions, p.id, subscriptions)

    def subscribe(self, p: Principal, n: int) -> bool:
        if self.subscriptions[p.id] + n > p.limits.max_subscriptions:
            return False
        self.subscriptions[p.id] += n
        return True

    def unsubscribe(self, p: Principal, n: int) -> None:
        self._sub(self.subscriptions, p.id, n)

    @staticmethod
    def _sub(counter: Counter[str], key: str, n: int) -> None:
        counter[key] -= n
        if counter[key] <= 0:
            del counter[key]


class TokenBucket:
    """`rate` tokens per second, at most `capacity` (default: one second's worth) saved up."""

    __slots__ = ("_at", "_clock", "_tokens", "capacity", "rate")  # one per connection

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        capacity: float | None = None,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate if capacity is None else capacity)
        self._tokens = self.capacity
        self._clock = clock
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def available(self) -> int:
        """Whole tokens there now (0 when the bucket is empty or overspent)."""
        self._refill()
        return max(0, int(self._tokens))

    def spend(self, n: float) -> None:
        """Take `n` tokens, even if that leaves the bucket below zero (charged after use)."""
        self._refill()
        self._tokens -= n

    @property
    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.capacity

    def resize(self, rate: float) -> None:
        """A new rate (a re-authenticated credential's). Tokens are not refilled by it:
        re-sending `auth` must not buy a fresh second of burst."""
        self._refill()
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = min(self._tokens, self.capacity)
