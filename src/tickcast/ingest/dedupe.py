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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1}
end
local owner, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('SET', key, owner, 'NX', 'EX', ttl) then
    out[i - 1] = 1
  elseif redis.call('GET', key) == owner then
    out[i - 1] = 1
  else
    out[i - 1] = 0
  end
end
return out
"""

SEEN_PREFIX = "tickcast:seen:"
DONE_PREFIX = "tickcast:done:"


class Deduper:
    def __init__(self, redis: Any, ttl_s: int) -> None:
        self._redis = redis
        self._script = redis.register_script(_CLAIM)
        self._ttl = ttl_s

    def claim(self, ids: Sequence[str], owner: str) -> list[bool] | None:
        """One round trip: which of `ids` this message may publish; None if it already has."""
        result = self._script(
            keys=[DONE_PREFIX + owner, *(SEEN_PREFIX + i for i in ids)], args=[owner, self._ttl]
        )
        if result and int(result[0]) == -1:
            return None
        return [bool(x) for x in result]

    def done(self, owner: str) -> None:
        self._redis.set(DONE_PREFIX + owner, 1, ex=self._ttl)
