"""Idempotency claims in Redis: a tick counts once, however often it is sent.

- Each trade, bar, cancel or correction is claimed by the Pub/Sub message that
  carried it. A different message carrying the same tick (a vendor resend)
  finds someone else's claim and the tick is dropped.
- A redelivery of the same message finds its own claims and publishes again,
  because its earlier attempt may have failed after claiming. Once a message
  has been published, a `done` mark makes any later redelivery a no-op, so the
  same raw message yields its ticks once.
- If the mark itself is lost (Redis restarted between publish and mark), a
  redelivery republishes the same batch with the same deterministic batch id,
  which features drops: counted once either way.
- A tick id repeated inside one message is published once (the first copy).
- Quotes are never claimed: no stage builds bars from them (features ignores
  them; the bridge keeps only the latest per symbol), so a resent quote costs
  nothing downstream, and they are most of a feed's ticks. They are still
  published, and a redelivery after `done` still publishes nothing.
- The in-flight record: per symbol, the newest event time of the trades and bars
  claimed ("in flight" until features has seen them), so features' clock never
  closes a bar that ticks still queued in Pub/Sub belong to.

Memory is bounded by the claim window, not by the tick rate times a day. Claims
live in one small hash per (symbol, event-time second),
`tickcast:seen:{SYM}:<second>`, field = an 8-byte digest of the tick id, value =
an 8-byte digest of the claiming message id, expiring `TICKCAST_DEDUPE_TTL_S`
after its last claim. The symbol in the key namespaces every id (tickcast's own
format lets a publisher number ticks per symbol: AAPL `1` and MSFT `1` are two
ticks). Up to 128 claims a hash stays a listpack, about 20 bytes a claim plus
one key per (symbol, second); docs/PERFORMANCE.md has the measured figures
(`python -m tickcast.bench.dedupe`). A digest collision needs two ticks of one
symbol in one second whose 64-bit digests agree: about n²/2⁶⁵ for n ticks in
that second, never in practice.

Why a 15-minute window (the default) is enough: neither Alpaca's nor Polygon's
WebSocket stream replays history on reconnect (tickcast's connectors, feeds/,
do not refetch gaps either), so duplicates come from (a) a publisher retrying a
publish whose answer was lost: feeds/publisher.py retries after a backoff capped
at TICKCAST_FEED_PUBLISH_BACKOFF_MAX_S (10 s by default, at most 600 s), the
Pub/Sub client's own retries give up after 600 s; (b) two connectors on one
stream, as during a rollout (copies seconds apart); (c) a user's publisher
refetching its gap over REST after a reconnect (right away); and (d) Pub/Sub
redelivering the same message within its ack deadline and backoff (at most 600 s
each; the same window for `done` marks). A resend later than that belongs to a
bar that has closed, and features drops it as late; only a features backlog
older than the window, bars longer than it (`TICKCAST_BAR_SECONDS`), or a
publish that keeps failing for longer than it after its first copy got through,
would let it count twice: raise the window then.

Redis Cluster: each claim script declares only one symbol's claim hashes (one
hash tag, one slot); the `done` mark and the in-flight hash are single keys
handled by their own commands in the same non-transactional pipeline, one
round trip on a single Redis. Everything in that pipeline is idempotent for the
same message, so running it again on a redelivery after `done` changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from itertools import count
from typing import Any

from redis.exceptions import NoScriptError

from tickcast import clients
from tickcast import keys as K

# One symbol's claims. KEYS: its claim hashes, one per event second. ARGV: owner
# digest, ttl, then for each KEYS[k] one string: the 8-byte digests of its ticks,
# end to end. Returns one byte per tick in that order: '1' = ours, '0' = someone else's.
#
# The layout it writes is the one the previous script (HSETNX per tick, ARGV of
# bucket index, digest pairs) wrote: same keys, fields and values, and a claim is
# "ours" by the same test (absent, or held by our owner digest). So old and new
# instances can share one Redis during a rolling deploy, each seeing the other's
# claims (tests/emulator/test_dedupe_memory.py runs the old script against this one).
#
# Why packed strings and HMGET/HSET: one redis.call per tick (HSETNX) and two
# ARGV entries per tick were most of the claim's cost on both sides; here Redis
# makes two calls per chunk of a key's ticks, and redis-py packs a few arguments
# per symbol. Atomic like HSETNX: nothing runs between a script's HMGET and HSET.
# Chunks of 1,000 fields, because unpack() is bounded by Lua's C stack (8,000).
_CLAIM = """
local owner, ttl = ARGV[1], ARGV[2]
local out, n = {}, 0
for k = 1, #KEYS do
  local key, packed = KEYS[k], ARGV[k + 2]
  local count = #packed / 8
  if count < 4 then
    -- A few ticks (small messages, many symbols): HSETNX each is cheaper than two calls.
    for j = 1, count do
      local field = string.sub(packed, 8 * j - 7, 8 * j)
      local mine = redis.call('HSETNX', key, field, owner) == 1 or redis.call('HGET', key, field) == owner
      n = n + 1
      out[n] = mine and '1' or '0'
    end
    count = 0
  end
  for lo = 1, count, 1000 do
    local hi = math.min(count, lo + 999)
    local fields = {}
    for j = lo, hi do
      fields[j - lo + 1] = string.sub(packed, 8 * j - 7, 8 * j)
    end
    local have = redis.call('HMGET', key, unpack(fields))
    local new, m = {}, 0
    for j = 1, #fields do
      local v = have[j]
      n = n + 1
      if v then
        out[n] = v == owner and '1' or '0'
      else
        out[n] = '1'
        new[m + 1], new[m + 2] = fields[j], owner
        m = m + 2
      end
    end
    if m > 0 then
      redis.call('HSET', key, unpack(new))
    end
  end
  redis.call('EXPIRE', key, ttl)
end
return table.concat(out)
"""

# KEYS[1]: the in-flight hash. ARGV: wall ms now, then symbol, newest event ms pairs.
_INFLIGHT = """
for i = 2, #ARGV, 2 do
  local sym, ms = ARGV[i], tonumber(ARGV[i + 1])
  if ms > tonumber(redis.call('HGET', KEYS[1], sym) or '0') then
    redis.call('HSET', KEYS[1], sym, ms, sym .. '@', ARGV[1])
  end
end
return 0
"""

DONE_PREFIX = K.DONE_PREFIX
INFLIGHT_KEY = K.INFLIGHT  # the layout is in tickcast/keys.py; kept for existing callers
DIGEST_BYTES = 8
_MINE = ord("1")  # the claim script's byte for a claim that is this message's

# symbol -> {event second: ([tick index], [its id digest])}, seconds in KEYS order
_Claims = dict[str, dict[int, tuple[list[int], list[bytes]]]]


class _Symbol:
    """One symbol's share of a message, as claim() gathers it."""

    __slots__ = ("ids", "newest", "seconds")

    def __init__(self) -> None:
        self.ids: set[str] = set()  # tick ids seen so far in this message
        self.seconds: dict[int, tuple[list[int], list[bytes]]] = {}
        self.newest = 0  # newest event ms of its claimed ticks


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=DIGEST_BYTES).digest()


def inflight(redis: Any, symbols: Sequence[str]) -> dict[str, tuple[int, int]]:
    """symbol -> (newest event ms ingest claimed for it, wall ms when), one round trip."""
    return K.read_inflight(redis, symbols)


class Deduper:
    def __init__(self, redis: Any, ttl_s: int) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._inflight = redis.register_script(_INFLIGHT)
        self._cluster = clients.is_cluster(redis)
        self._ttl = ttl_s

    def claim(
        self, ids: Sequence[str], owner: str, events: Sequence[tuple[str, int]]
    ) -> list[bool] | None:
        """Which of `ids` this message may publish; None if it already has. One round trip.

        `events[i]` = (symbol, event ms) of tick i; 0 ms for a tick no stage builds
        bars from (a quote): never claimed, published unless repeated in this
        message. Required: without them nothing could be claimed."""
        if len(events) != len(ids):
            raise ValueError("claim: one (symbol, event ms) per id")
        fresh = [True] * len(ids)
        per: dict[str, _Symbol] = {}
        blake2b = hashlib.blake2b
        # The per-tick loop is ingest's hot path: state per symbol, so the repeat check
        # hashes the id alone (no (symbol, id) tuple per tick), and the set's size
        # tells whether add() found it (one hash, not `in` then `add`).
        for i, tick_id, (symbol, ms) in zip(count(), ids, events):
            sym = per.get(symbol)
            if sym is None:
                sym = per[symbol] = _Symbol()
            first = sym.ids
            n = len(first)
            first.add(tick_id)
            if len(first) == n:
                fresh[i] = False  # a copy inside the same message: the first one stands for it
                continue
            if ms <= 0:
                continue
            if ms > sym.newest:
                sym.newest = ms
            bucket = sym.seconds.get(ms // 1000)
            if bucket is None:
                bucket = sym.seconds[ms // 1000] = ([], [])
            bucket[0].append(i)
            bucket[1].append(blake2b(tick_id.encode(), digest_size=DIGEST_BYTES).digest())
        claims = {symbol: sym.seconds for symbol, sym in per.items() if sym.seconds}
        newest = {symbol: sym.newest for symbol, sym in per.items() if sym.seconds}

        if claims:
            replies = self._send(owner, claims, newest)
            if replies is None:
                return None
            for seconds, reply in zip(claims.values(), replies, strict=True):
                if isinstance(reply, str):  # a client with decode_responses
                    reply = reply.encode()
                if len(reply) != sum(len(where) for where, _ in seconds.values()):
                    raise RuntimeError(f"claim: {len(reply)} replies for {len(seconds)} seconds")
                if b"0" in reply:  # someone else's claims (a resend): rare, so looked for first
                    order = [i for where, _ in seconds.values() for i in where]
                    for i, mine in zip(order, reply, strict=True):
                        if mine != _MINE:
                            fresh[i] = False
        elif self._redis.exists(K.done(owner)):
            return None
        return fresh

    def _send(
        self, owner: str, claims: _Claims, newest: dict[str, int], reloaded: bool = False
    ) -> list[bytes | str] | None:
        """The done check, one claim script per symbol and the in-flight update in one
        non-transactional pipeline; the claims' replies, or None if `done` was set."""
        who = _digest(owner)
        now_ms = time.time_ns() // 1_000_000
        pairs = [x for symbol, ms in newest.items() for x in (symbol, ms)]
        scripts = [
            (
                [K.seen(symbol, second) for second in seconds],
                [who, self._ttl, *(b"".join(digests) for _, digests in seconds.values())],
            )
            for symbol, seconds in claims.items()
        ]
        if self._cluster:
            # redis-py's cluster pipeline refuses EVALSHA: each script on its own, to
            # the node of its slot (a round trip each, as a cluster needs anyway).
            if self._redis.exists(K.done(owner)):
                return None
            replies = [self._claim(keys=keys, args=args) for keys, args in scripts]
            self._inflight(keys=[K.INFLIGHT], args=[now_ms, *pairs])
            return replies
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(K.done(owner))
        for keys, args in scripts:
            # EVALSHA itself: a pipeline given the Script object asks SCRIPT EXISTS first,
            # a second round trip on every message.
            pipe.evalsha(self._claim.sha, len(keys), *keys, *args)
        # Recorded whether or not the claims turn out ours: a tick someone else claimed
        # has the same event time, already recorded by its owner, so it moves nothing.
        pipe.evalsha(self._inflight.sha, 1, K.INFLIGHT, now_ms, *pairs)
        try:
            done, *replies, _ = pipe.execute()
        except NoScriptError:  # Redis restarted and forgot them: load, send again
            if reloaded:  # once: a server that still lacks them raises (5xx, redelivery)
                raise
            self._redis.script_load(_CLAIM)
            self._redis.script_load(_INFLIGHT)
            return self._send(owner, claims, newest, reloaded=True)
        return None if done else replies

    def done(self, owner: str) -> None:
        self._redis.set(K.done(owner), 1, ex=self._ttl)
