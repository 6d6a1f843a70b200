"""Per-(symbol, interval) state in Redis: one record, compare-and-set by revision.

Hot path = one round trip: the instance keeps the last record it wrote; it
computes the new record from it and sends one EVAL that writes only if the
stored revision is still the one it started from. If another instance got
there first, the script answers with the current record and we recompute.

The script declares only the symbol's own keys (one hash tag, one slot), so it
also runs on Redis Cluster (tickcast/keys.py). The global indexes the clock
reads, the active-symbol zset and the market watermark, are plain ZADDs sent in
the same non-transactional pipeline as the EVALSHA, so a single Redis still
sees one round trip per message. They are idempotent (a score set to now, a
maximum kept by `GT`), so applying them when the commit is then refused (a
redelivered batch) or retried (contention) changes nothing the clock relies on:
the symbol did get ticks, and that event time was reached.

Batch ids and the outbox live beside the record, not in it, so the record a
message carries stays small (bars and indicator state, about 3 KB):
- `batches`: a sorted set of the ids of batches committed, scored by wall ms,
  kept for `BATCH_WINDOW_MS` (capped at `BATCH_CAP`). The script refuses a batch
  already there and answers with the outbox instead: a redelivery changes nothing.
- `outbox`: a hash of `OUTBOX_SLOTS` ring slots, each `[batch, [message, ...]]`
  for a recent batch that produced messages, so a redelivery after a failed
  publish publishes them again.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeVar

import orjson
from redis.exceptions import NoScriptError

from tickcast import clients
from tickcast import keys as K
from tickcast.errors import TickcastError

T = TypeVar("T")

# Pub/Sub redelivers within its ack deadline and retry backoff (each at most 600 s).
BATCH_WINDOW_MS = 15 * 60 * 1000
BATCH_CAP = 20_000  # per symbol: bounds memory at very high message rates
OUTBOX_SLOTS = 8

# KEYS: state, batches, outbox of one (symbol, interval): all in the symbol's slot.
# ARGV: rev, new rev, data, ttl, now ms, batch, outbox entry, window ms, cap, slots.
_CAS = """
local batch = ARGV[6]
if batch ~= '' and redis.call('ZSCORE', KEYS[2], batch) then
  return {2, '0', redis.call('HVALS', KEYS[3])}
end
local rev = redis.call('HGET', KEYS[1], 'rev')
if (rev or '0') ~= ARGV[1] then
  return {0, rev or '0', redis.call('HGET', KEYS[1], 'data') or ''}
end
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'data', ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
if batch ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[5], batch)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(ARGV[5]) - tonumber(ARGV[8])))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1 - tonumber(ARGV[9]))
  redis.call('EXPIRE', KEYS[2], ttl)
  if ARGV[7] ~= '' then
    local slot = redis.call('HINCRBY', KEYS[1], 'out', 1) % tonumber(ARGV[10])
    redis.call('HSET', KEYS[3], slot, ARGV[7])
    redis.call('EXPIRE', KEYS[3], ttl)
  end
end
return {1, ARGV[2], ''}
"""

MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class IndexWrites:
    """Changes to the open bars' trade index (features/bars.py: what a cancel refolds
    from), one hash per (symbol, interval, bar start): field = the trade's ref, value =
    its entry. Sent in the same pipeline as the commit, before it: a failed commit
    leaves entries the retry rewrites, or entries past the bar's `arrivals` that a
    refold ignores."""

    indexed: list[tuple[int, str, list[Any]]] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)
    expire_ms: int = 0  # epoch ms after which the entries are never read

    def __bool__(self) -> bool:
        return bool(self.indexed or self.dropped)


trades_key = K.trades


def encode_entries(entries: list[list[Any]]) -> list[bytes]:
    """`[orjson.dumps(e) for e in entries]`, byte for byte, in one orjson call.

    A message of Alpaca trades indexes every trade (thousands per message), and a
    call to orjson costs several times what encoding a six-number entry does. The
    entries are encoded as one array and cut at the `],[` between them: orjson never
    writes a raw newline (it escapes one inside a string), so splitting at newlines
    put there is exact. An entry that is not a flat list of numbers could hold `],[`
    itself: then the count differs and each is encoded on its own."""
    if not entries:
        return []
    parts = orjson.dumps(entries)[1:-1].replace(b"],[", b"]\n[").split(b"\n")
    if len(parts) != len(entries):
        return [orjson.dumps(e) for e in entries]
    return parts


class _Applied:
    """The batch was applied before (a redelivery): the outbox slots as stored."""

    def __init__(self, outbox: list[bytes]) -> None:
        self.outbox = outbox


class ContentionError(TickcastError):
    """Could not commit after many attempts: transient, the message is retried."""


# The key layout lives in tickcast/keys.py; these names stay for existing callers.
state_key = K.state
batches_key = K.batches
outbox_key = K.outbox
active_key = K.active
progress_key = K.watermark
EPOCH_KEY = K.EPOCH


class StateStore:
    def __init__(self, redis: Any, ttl_s: int) -> None:
        self._redis = redis
        self._cas = redis.register_script(_CAS)
        self._cluster = clients.is_cluster(redis)
        self._ttl = ttl_s
        # The last record this instance committed, decoded: the next message starts from
        # it without a read or a decode. Step functions must not mutate it (Record copies).
        self._cache: dict[str, tuple[int, dict[str, Any] | None]] = {}
        self._epoch: str | None = None

    def load(self, key: str) -> tuple[int, dict[str, Any] | None]:
        rev, data = self._redis.hmget(key, "rev", "data")
        return int(rev or 0), (orjson.loads(data) if data else None)

    def update(
        self,
        symbol: str,
        interval_s: int,
        fn: Callable[[dict[str, Any] | None, bool], tuple[dict[str, Any], T]],
        now_ms: int,
        event_ms: int = 0,
    ) -> T:
        """Apply `fn(current record or None, lost) -> (new record, result)` atomically.

        `lost` is true when the record is missing but existed before (see `_was_lost`).
        """
        done = self._commit(symbol, interval_s, fn, now_ms, event_ms, "", lambda _: b"")
        assert not isinstance(done, _Applied), "no batch id, so never already applied"
        return done

    def apply_batch(
        self,
        symbol: str,
        interval_s: int,
        batch: str,
        fn: Callable[[dict[str, Any] | None, bool], tuple[dict[str, Any] | None, list[bytes]]],
        now_ms: int,
        event_ms: int = 0,
        index: Callable[[], IndexWrites] | None = None,
    ) -> tuple[bool, list[bytes]]:
        """Like `update`, once per batch id: `fn` returns the new record (None: leave
        it as it is, write nothing, no round trip) and the messages it produced.
        Returns (applied now, messages to publish); for a batch already applied,
        (False, what it produced if still in the outbox)."""

        def entry(produced: list[bytes]) -> bytes:
            if not produced:
                return b""
            return orjson.dumps([batch, [m.decode() for m in produced]])

        done = self._commit(symbol, interval_s, fn, now_ms, event_ms, batch, entry, index)
        if isinstance(done, _Applied):
            slots = [orjson.loads(e) for e in done.outbox]
            return False, [m.encode() for b, msgs in slots if b == batch for m in msgs]
        return True, done

    def _commit(
        self,
        symbol: str,
        interval_s: int,
        fn: Callable[[dict[str, Any] | None, bool], tuple[dict[str, Any] | None, T]],
        now_ms: int,
        event_ms: int,
        batch: str,
        outbox: Callable[[T], bytes],
        index: Callable[[], IndexWrites] | None = None,
    ) -> T | _Applied:
        key = K.state(symbol, interval_s)
        keys = [key, K.batches(symbol, interval_s), K.outbox(symbol, interval_s)]
        # The clock's indexes go with the first attempt only: idempotent, and a
        # retry after contention has nothing new to tell them.
        indexes: tuple[int, int] | None = (now_ms, event_ms)
        cached = self._cache.get(key)
        rev, rec = self.load(key) if cached is None else cached
        lost = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                # Jittered backoff so contenders stop colliding in lockstep.
                time.sleep(random.uniform(0, 0.001 * min(attempt, 10)))
            if rec is None and not lost:
                lost = self._was_lost(cached is not None)
            new, result = fn(rec, lost)
            if new is None:
                return result
            args = [rev, rev + 1, orjson.dumps(new), self._ttl, now_ms]
            args += [batch, outbox(result), BATCH_WINDOW_MS, BATCH_CAP, OUTBOX_SLOTS]
            writes = index() if index is not None else None
            ok, cur_rev, cur = self._send(symbol, interval_s, writes, indexes, keys, args)
            indexes = None
            if int(ok) == 1:
                self._cache[key] = (rev + 1, new)
                return result
            if int(ok) == 2:
                return _Applied(cur)
            rev, rec = int(cur_rev), (orjson.loads(cur) if cur else None)
        self._cache.pop(key, None)
        raise ContentionError(f"state for {symbol}/{interval_s}s kept changing under us")

    def _send(
        self,
        symbol: str,
        interval_s: int,
        w: IndexWrites | None,
        indexes: tuple[int, int] | None,
        keys: list[str],
        args: list[Any],
        reloaded: bool = False,
    ) -> Any:
        """The trade-index changes, the clock's indexes and the commit in one
        non-transactional pipeline: one round trip on a single Redis. Every part is
        idempotent, so a resend is safe."""
        pipe = self._redis.pipeline(transaction=False)
        if w:
            by_bar: dict[int, dict[str, bytes]] = {}
            values = encode_entries([entry for _, _, entry in w.indexed])
            for (start, ref, _), value in zip(w.indexed, values, strict=True):
                fields = by_bar.get(start)
                if fields is None:
                    fields = by_bar[start] = {}
                fields[ref] = value  # a ref indexed twice (a correction): the last wins
            for start, fields in by_bar.items():
                # HSET's arguments as is: redis-py's `mapping=` rebuilds the same list.
                pipe.execute_command(
                    "HSET",
                    K.trades(symbol, interval_s, start),
                    *chain.from_iterable(fields.items()),
                )
            for start, ref in w.dropped:
                pipe.hdel(K.trades(symbol, interval_s, start), ref)
            for start in {s for s, _, _ in w.indexed} | {s for s, _ in w.dropped}:
                pipe.pexpireat(K.trades(symbol, interval_s, start), w.expire_ms)
        if indexes is not None:
            now_ms, event_ms = indexes
            pipe.zadd(K.active(interval_s), {symbol: now_ms})
            if event_ms > 0:
                # GT keeps each member's maximum: no read-modify-write, no script.
                pipe.zadd(K.watermark(interval_s), {"event": event_ms, "arrival": now_ms}, gt=True)
        if self._cluster:
            # redis-py's cluster pipeline refuses EVALSHA: the other commands go first
            # (to whichever nodes own them), then the script to the symbol's node.
            if len(pipe):
                pipe.execute()
            return self._cas(keys=keys, args=args)
        # EVALSHA itself: a pipeline given the Script object asks SCRIPT EXISTS first,
        # a second round trip on every message.
        pipe.evalsha(self._cas.sha, len(keys), *keys, *args)
        try:
            return pipe.execute()[-1]
        except NoScriptError:  # Redis restarted and forgot it: load it, send again
            if reloaded:  # once: a server that still lacks it raises (5xx, redelivery)
                raise
            self._redis.script_load(_CAS)
            return self._send(symbol, interval_s, w, indexes, keys, args, reloaded=True)

    def trade_index(
        self, symbol: str, interval_s: int, starts: list[int]
    ) -> dict[int, dict[str, list[Any]]]:
        """The indexed trades of the open bars `starts`, one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for start in starts:
            pipe.hgetall(K.trades(symbol, interval_s, start))
        return {
            start: {
                (k.decode() if isinstance(k, bytes) else k): orjson.loads(v) for k, v in got.items()
            }
            for start, got in zip(starts, pipe.execute(), strict=True)
        }

    def _was_lost(self, had_record: bool) -> bool:
        """Is a missing record state that Redis lost (restart, failover, flush, eviction)?

        Known for sure when this instance held the record, or when Redis's epoch
        token (created once, never expiring) changed since this instance first
        saw it. A cold instance after a wipe cannot tell lost state from a new
        symbol: it reports `warming_up` instead. Either way nothing is `ready`
        until the indicators have warmed up again, so no wrong value goes out.
        """
        fresh = secrets.token_hex(8)
        self._redis.set(K.EPOCH, fresh, nx=True)
        current = self._redis.get(K.EPOCH)
        current = current.decode() if isinstance(current, bytes) else str(current)
        known, self._epoch = self._epoch, current
        return had_record or (known is not None and known != current)

    def remember_epoch(self) -> None:
        """Learn Redis's epoch at cold start, so a later wipe is recognised."""
        if self._epoch is None:
            self._was_lost(False)

    def progress(self, interval_s: int) -> tuple[int, int]:
        """(newest event ms committed by any symbol, wall ms of that commit)."""
        event, arrival = self._redis.zmscore(K.watermark(interval_s), ["event", "arrival"])
        return int(event or 0), int(arrival or 0)

    def inflight(self, symbols: list[str]) -> dict[str, tuple[int, int]]:
        """symbol -> (newest event ms ingest claimed, wall ms when): see ingest.dedupe."""
        return K.read_inflight(self._redis, symbols)

    def active_symbols(self, interval_s: int, since_ms: int) -> list[str]:
        return [
            s.decode() for s in self._redis.zrangebyscore(K.active(interval_s), since_ms, "+inf")
        ]
