"""Every Redis key tickcast writes, in one place.

Redis Cluster runs a Lua script only if all the keys it declares hash to one slot,
and a key's slot is computed from the part between the first `{` and `}` when
there is one (the hash tag). So every per-symbol key carries the symbol as its
hash tag, `{AAPL}`: one symbol's keys share a slot and one EVAL may touch them
together. The few global keys (the clock's indexes and the epoch) are never
declared in the same EVAL as a per-symbol key: they are written by plain
commands pipelined beside it (see features/store.py and ingest/dedupe.py).

Symbols match schema.SYMBOL_RE (upper-case letters, digits and `.-=^_`): never a
`{` or `}`, so the tag is always the whole symbol.

| key | type | slot | written by |
|---|---|---|---|
| `tickcast:state:{SYM}:<interval>` | hash rev, data, out | SYM | features (CAS script) |
| `tickcast:batches:{SYM}:<interval>` | zset batch id -> wall ms | SYM | features (CAS script) |
| `tickcast:outbox:{SYM}:<interval>` | hash ring slot -> messages | SYM | features (CAS script) |
| `tickcast:trades:{SYM}:<interval>:<bar start ms>` | hash ref -> trade | SYM | features (pipeline) |
| `tickcast:seen:{SYM}:<event second>` | hash id digest -> owner digest | SYM | ingest (claim script) |
| `tickcast:done:<message id>` | string | own | ingest |
| `tickcast:inflight` | hash SYM -> event ms, SYM@ -> wall ms | own | ingest (one-key script) |
| `tickcast:active:<interval>` | zset SYM -> wall ms | own | features (ZADD, pipelined) |
| `tickcast:watermark:<interval>` | zset event, arrival -> ms | own | features (ZADD GT, pipelined) |
| `tickcast:epoch` | string | own | features |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PREFIX = "tickcast:"

EPOCH = PREFIX + "epoch"
"""Random token created once, never expiring: a change means Redis lost its data."""

INFLIGHT = PREFIX + "inflight"
"""Hash: SYM -> newest event ms of a trade or bar ingest claimed for it; SYM@ -> wall
ms of that claim. The clock reads it for all active symbols in one HMGET."""


def read_inflight(redis: Any, symbols: Sequence[str]) -> dict[str, tuple[int, int]]:
    """`INFLIGHT` for `symbols`: symbol -> (event ms, wall ms claimed), one HMGET."""
    if not symbols:
        return {}
    vals = redis.hmget(INFLIGHT, [f for s in symbols for f in (s, s + "@")])
    return {
        s: (int(vals[2 * k]), int(vals[2 * k + 1] or 0))
        for k, s in enumerate(symbols)
        if vals[2 * k] is not None
    }


DONE_PREFIX = PREFIX + "done:"
"""`done:<message id>`: the raw message's ticks were published; a redelivery is a no-op."""


def tag(symbol: str) -> str:
    """The hash tag that puts every key of `symbol` in one cluster slot."""
    return "{" + symbol + "}"


def per_symbol(name: str, symbol: str, *parts: object) -> str:
    """`tickcast:<name>:{SYM}[:part...]`: a key in the symbol's slot."""
    tail = "".join(f":{p}" for p in parts)
    return f"{PREFIX}{name}:{tag(symbol)}{tail}"


def state(symbol: str, interval_s: int) -> str:
    return per_symbol("state", symbol, interval_s)


def batches(symbol: str, interval_s: int) -> str:
    return per_symbol("batches", symbol, interval_s)


def outbox(symbol: str, interval_s: int) -> str:
    return per_symbol("outbox", symbol, interval_s)


def trades(symbol: str, interval_s: int, start_ms: int) -> str:
    return per_symbol("trades", symbol, interval_s, start_ms)


def seen(symbol: str, event_s: int) -> str:
    """Ingest's claims on the symbol's trades and bars of one event-time second."""
    return per_symbol("seen", symbol, event_s)


def done(message_id: str) -> str:
    return DONE_PREFIX + message_id


def active(interval_s: int) -> str:
    """Zset of the symbols committed recently (scored by wall ms): what the clock walks."""
    return f"{PREFIX}active:{interval_s}"


def watermark(interval_s: int) -> str:
    """Zset of the market's progress: member `event` = newest event ms committed by any
    symbol, member `arrival` = wall ms of the newest such commit. A zset, not a hash,
    so `ZADD GT` keeps the maximum without a script (replaces the hash
    `tickcast:progress:<interval>`, which the CAS script used to update)."""
    return f"{PREFIX}watermark:{interval_s}"
