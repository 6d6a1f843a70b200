"""Idempotency keys in Redis: a tick id counts once, however often it is sent.

Each key is claimed with SET NX by the Pub/Sub message that carried it. A
redelivery of that same message finds its own claim and publishes again (its
earlier attempt may have failed after claiming); a different message carrying
the same tick id (a vendor resend) finds someone else's claim and is dropped.
Downstream, features drops a redelivered batch by its deterministic id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_CLAIM = """
local owner, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, owner, 'NX', 'EX', ttl) then
    out[i] = 1
  elseif redis.call('GET', key) == owner then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

KEY_PREFIX = "tickcast:seen:"


class Deduper:
    def __init__(self, redis: Any, ttl_s: int) -> None:
        self._script = redis.register_script(_CLAIM)
        self._ttl = ttl_s

    def claim(self, ids: Sequence[str], owner: str) -> list[bool]:
        """One round trip: which of `ids` this message may publish."""
        if not ids:
            return []
        keys = [KEY_PREFIX + i for i in ids]
        return [bool(x) for x in self._script(keys=keys, args=[owner, self._ttl])]
