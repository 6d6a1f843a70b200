"""Ingest: parse vendor bytes, dead-letter bad elements, dedupe, publish per-symbol batches."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from tickcast import clients, log
from tickcast.config import Settings
from tickcast.ingest import formats
from tickcast.ingest.dedupe import Deduper
from tickcast.ingest.filters import TickFilter
from tickcast.pubsub import PushedMessage, dead_letter, publish
from tickcast.schema import Tick, TicksMessage

_log = log.get("ingest")

# A symbol's ticks from one raw message go out in messages of at most this many ticks.
# Why: Pub/Sub refuses a message over 10 MB, and a tick is 150-400 bytes of JSON, so a
# Polygon REST page of 50,000 trades (its `limit` maximum) made one message of 10-20 MB
# whose publish failed on every delivery until the raw message was dead-lettered. 5,000
# keeps a message at 2 MB at most; the chunks share the symbol's ordering key, so
# features takes them in order, and each has its own deterministic batch id.
MAX_TICKS_PER_MESSAGE = 5_000


@dataclass(frozen=True)
class IngestResult:
    published: int
    duplicates: int
    rejected: int
    symbols: int
    filtered: dict[str, int]
    redelivery: bool = False


@cache
def _deduper(url: str, ttl_s: int) -> Deduper:
    return Deduper(clients.redis_client(url), ttl_s)


@cache
def _filter(s: Settings) -> TickFilter:
    return TickFilter.from_settings(s)


def batch_id(message_id: str, symbol: str, ticks: list[Tick]) -> str:
    """Same Pub/Sub message and symbol -> same id, so features can drop a redelivery."""
    h = hashlib.blake2b(digest_size=12)
    h.update(message_id.encode())
    h.update(symbol.encode())
    # One update of the ids joined: the same digest as one update per id, in one call.
    h.update("".join([t.id for t in ticks]).encode())
    return h.hexdigest()


def handle(msg: PushedMessage, s: Settings) -> IngestResult:
    now = time.time_ns()
    parsed = formats.parse(
        msg.data,
        msg.attributes.get("format"),
        now_ns=now,
        max_past_ns=s.max_past_s * 1_000_000_000,
        max_future_ns=s.max_future_s * 1_000_000_000,
    )
    for r in parsed.rejected:
        dead_letter(
            s,
            r.raw,
            stage="ingest",
            reason=r.reason,
            error=r.error,
            extra={"message_id": msg.message_id},
        )
    ticks, filtered = _filter(s).apply(parsed.ticks)
    owner = msg.message_id or hashlib.blake2b(msg.data, digest_size=12).hexdigest()
    deduper = _deduper(s.redis_url, s.dedupe_ttl_s)
    fresh = deduper.claim(
        [t.id for _, t in ticks],
        owner,
        # 0 ms: quotes build no bars, so they are not claimed (see ingest/dedupe.py).
        [(sym, 0 if t.kind == "quote" else t.ts // 1_000_000) for sym, t in ticks],
    )
    if fresh is None:  # published before (a redelivery after success): ack, publish nothing
        result = IngestResult(
            0, len(ticks), len(parsed.rejected), 0, dict(filtered), redelivery=True
        )
        _log.info("ingested", extra={"format": parsed.format, **result.__dict__})
        return result
    by_symbol: dict[str, list[Tick]] = defaultdict(list)
    for (symbol, tick), ok in zip(ticks, fresh, strict=True):
        if ok:
            by_symbol[symbol].append(tick)
    done = time.time_ns()
    out: list[tuple[bytes, str, dict[str, str]]] = []
    for symbol, sym_ticks in by_symbol.items():
        for i in range(0, len(sym_ticks), MAX_TICKS_PER_MESSAGE):
            chunk = sym_ticks[i : i + MAX_TICKS_PER_MESSAGE]
            trace = {"event": max(t.ts for t in chunk), "ingest": done}
            if msg.publish_time_ns:
                trace["published"] = msg.publish_time_ns
            body = TicksMessage(
                symbol=symbol,
                ticks=tuple(chunk),
                # Per chunk: a redelivery cuts the same chunks, so each keeps its id.
                batch=batch_id(owner, symbol, chunk),
                trace=trace,
            )
            out.append((body.model_dump_json(exclude_none=True).encode(), symbol, {}))
    publish(s, "ticks", out)
    deduper.done(owner)
    result = IngestResult(
        published=sum(len(v) for v in by_symbol.values()),
        duplicates=len(ticks) - sum(fresh),
        rejected=len(parsed.rejected),
        symbols=len(by_symbol),
        filtered=dict(filtered),
    )
    _log.info("ingested", extra={"format": parsed.format, **result.__dict__})
    return result
