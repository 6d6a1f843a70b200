"""Idempotency keys in Redis: a tick counts once, however often it is sent.

- Each tick id is claimed with SET NX by the Pub/Sub message that carried it.
  A different message carrying the same tick id (a vendor resend) finds
  someone else's claim and the tick is dropped.
- A redelivery of the same message finds its own claims and publishes again,
  because its earlier attempt may have failed after claiming. Once a message
  has been published, a `done` mark makes any later redelivery a no-op, so the
  same raw message yields its ticks once.
- If the mark itself is lost (Redis restarted between publish and mark), a
  redelivery republishes the same batch with the same deterministic batch id,
  which features drops: counted once either way.
- The same script records, per symbol, the newest event time of the trades and
  bars it claimed ("in flight" until features has seen them), so features' clock
  never closes a bar that ticks still queued in Pub/Sub belong to.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1}
end
local owner, ttl, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out, newest = {}, {}
for i = 3, #KEYS do
  local key = KEYS[i]
  local mine = redis.call('SET', key, owner, 'NX', 'EX', ttl) or redis.call('GET', key) == owner
  out[i - 2] = mine and 1 or 0
  local sym, ms = ARGV[2 * i - 2], tonumber(ARGV[2 * i - 1])
  if mine and ms > 0 and ms > (newest[sym] or 0) then
    newest[sym] = ms
  end
end
for sym, ms in pairs(newest) do
  if ms > tonumber(redis.call('HGET', KEYS[2], sym) or '0') then
    redis.call('HSET', KEYS[2], sym, ms, sym .. '@', now)
  end
end
return out
"""

SEEN_PREFIX = "tickcast:seen:"
DONE_PREFIX = "tickcast:done:"
# symbol -> newest claimed event ms of a trade or bar; symbol@ -> wall ms it was claimed.
INFLIGHT_KEY = "tickcast:inflight"


def inflight(redis: Any, symbols: Sequence[str]) -> dict[str, tuple[int, int]]:
    """symbol -> (newest event ms ingest claimed for it, wall ms when), one round trip."""
    if not symbols:
        return {}
    vals = redis.hmget(INFLIGHT_KEY, [f for s in symbols for f in (s, s + "@")])
    return {
        s: (int(vals[2 * k]), int(vals[2 * k + 1] or 0))
        for k, s in enumerate(symbols)
        if vals[2 * k] is not None
    }


class Deduper:
    def __init__(self, redis: Any, ttl_s: int) -> None:
        self._redis = redis
        self._script = redis.register_script(_CLAIM)
        self._ttl = ttl_s

    def claim(
        self, ids: Sequence[str], owner: str, events: Sequence[tuple[str, int]] = ()
    ) -> list[bool] | None:
        """One round trip: which of `ids` this message may publish; None if it already has.

        `events[i]` = (symbol, event ms) of tick i, 0 ms for a quote (it closes no bar)."""
        events = events or [("", 0)] * len(ids)
        result = self._script(
            keys=[DONE_PREFIX + owner, INFLIGHT_KEY, *(SEEN_PREFIX + i for i in ids)],
            args=[owner, self._ttl, time.time_ns() // 1_000_000, *(x for e in events for x in e)],
        )
        if result and int(result[0]) == -1:
            return None
        return [bool(x) for x in result]

    def done(self, owner: str) -> None:
        self._redis.set(DONE_PREFIX + owner, 1, ex=self._ttl)
