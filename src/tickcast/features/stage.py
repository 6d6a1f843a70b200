"""Features: ticks -> closed bars -> feature vectors, one tickcast-features message per bar.

Idempotent and at-least-once safe:
- a redelivered ticks batch (same `batch` id) changes nothing; the messages it
  produced are published again from the outbox (predict overwrites by seq);
- state is committed before publishing; if publishing fails the message is
  redelivered and the outbox republishes what the commit produced.
"""

from __future__ import annotations

import time
from functools import cache
from operator import attrgetter
from typing import Any

import orjson
from pydantic import ValidationError

from tickcast import clients, log
from tickcast.config import Settings
from tickcast.errors import PermanentError
from tickcast.features.bars import NS_PER_MS, Amend, BarState
from tickcast.features.store import IndexWrites, StateStore, state_key
from tickcast.features.ticks_decoder import FastTicksMessage, decode_ticks
from tickcast.features.vector import FeatureSet
from tickcast.pubsub import PushedMessage, dead_letter, publish
from tickcast.schema import Bar, FeaturesMessage, TicksMessage, Trace

_log = log.get("features")
_ts = attrgetter("ts")

# 2: batch ids and outbox moved out of the record (store.py). An older record is
# treated like lost state: not ready until warm again, never a wrong value.
RECORD_VERSION = 2
# Ticks ingest claimed this long ago and features never saw were dead-lettered
# (Pub/Sub gives up after its delivery attempts), not queued: the clock goes on.
INFLIGHT_MAX_AGE_MS = 10 * 60 * 1000


@cache
def _store(url: str, ttl_s: int) -> StateStore:
    store = StateStore(clients.redis_client(url), ttl_s)
    store.remember_epoch()
    return store


class Record:
    """The decoded state record of one (symbol, interval)."""

    def __init__(
        self, s: Settings, raw: dict[str, Any] | None, lost: bool = False, symbol: str | None = None
    ) -> None:
        if raw is not None and raw.get("v") != RECORD_VERSION:
            raw, lost = None, True  # an unknown schema is treated like lost state: warm up again
        raw = raw or {}
        # Kept until the indicators are warm again, so every bar until then says why.
        self.lost: bool = lost or bool(raw.get("lost", False))
        self.bars = BarState.from_record(s.bar_ms, s.bar_grace_ms, raw.get("bars", {}))
        # The symbol decides the session VWAP's anchor (equities, crypto, FX).
        self.features = (
            FeatureSet.from_state(raw["ind"], symbol) if "ind" in raw else FeatureSet(symbol)
        )
        self.arrived_ms: int = int(raw.get("arrived_ms", 0))  # wall time of the last ticks

    def dump(self) -> dict[str, Any]:
        """The record to commit: fresh objects throughout, never aliases of this one's."""
        return {
            "v": RECORD_VERSION,
            "bars": self.bars.record(),
            "ind": self.features.state(),
            "arrived_ms": self.arrived_ms,
            **({"lost": True} if self.lost else {}),
        }


class _Decoded:
    """The Record behind the record this instance last committed, per key: the next
    message for the symbol starts from it instead of decoding the record again.

    An entry is taken out before use, so a step that fails half-way (its Record
    mutated, nothing committed) can never be reused; it is put back only with the
    exact dict object the store then caches, and used only when the store hands that
    same object back (identity, not equality), i.e. after that commit succeeded."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[dict[str, Any], Record]] = {}

    def take(
        self, key: str, s: Settings, raw: dict[str, Any] | None, lost: bool, symbol: str
    ) -> Record:
        hit = self._by_key.pop(key, None)
        if hit is not None and raw is not None and hit[0] is raw:
            return hit[1]
        return Record(s, raw, lost, symbol)

    def put(self, key: str, raw: dict[str, Any], rec: Record) -> dict[str, Any]:
        self._by_key[key] = (raw, rec)
        return raw


_decoded = _Decoded()


def _vectors(s: Settings, symbol: str, rec: Record, bars: list[Bar], trace: Trace) -> list[bytes]:
    out = []
    now = time.time_ns()
    for bar in bars:
        feats, ready, reason = rec.features.update(bar)
        if ready:
            rec.lost = False
        elif rec.lost:
            reason = (
                f"state_lost: feature state was lost in Redis and is warming up again ({reason})"
            )
        msg = FeaturesMessage(
            symbol=symbol,
            interval_s=s.bar_seconds,
            seq=bar.t + s.bar_ms,
            bar=bar,
            features=feats,
            ready=ready,
            reason=reason,
            trace={**trace, "features": now},
        )
        out.append(msg.model_dump_json().encode())
    return out


def on_ticks(msg: PushedMessage, s: Settings) -> int:
    try:
        batch = decode_ticks(msg.data)
    except ValidationError as exc:
        raise PermanentError("invalid_ticks_message", str(exc)) from None
    rejected: list[Amend] = []
    produced = apply_ticks(s, batch, rejected)
    publish(s, "features", [(m, batch.symbol, {}) for m in produced])
    for amend in rejected:
        # Published bars are never revised (their seq and features are out): the
        # cancel or correction stays visible for reconciliation instead.
        dead_letter(
            s,
            orjson.dumps({"symbol": batch.symbol, "kind": amend.kind, "ref": amend.ref}),
            stage="features",
            reason="correction_not_applied",
            error=f"{amend.kind} of {amend.ref}: {amend.reason}",
            extra={"batch": batch.batch},
        )
    return len(produced)


def apply_ticks(
    s: Settings, batch: TicksMessage | FastTicksMessage, rejected: list[Amend] | None = None
) -> list[bytes]:
    """Fold one ticks message into the symbol's state (one Redis round trip when
    warm, one more when it holds a cancel or correction); return the
    tickcast-features messages it produced, not yet published. The cancels and
    corrections it could not apply are added to `rejected`."""
    symbol, batch_id, ticks, trace = batch.symbol, batch.batch, batch.ticks, batch.trace

    key = state_key(symbol, s.bar_seconds)
    store = _store(s.redis_url, s.state_ttl_s)
    amends = any(t.kind == "cancel" or t.kind == "correct" for t in ticks)
    not_applied: list[Amend] = []
    stepped: list[BarState] = []  # the bars of the step about to be committed

    def step(raw: dict[str, Any] | None, lost: bool) -> tuple[dict[str, Any], list[bytes]]:
        rec = _decoded.take(key, s, raw, lost, symbol)
        late_before = rec.bars.late
        index = store.trade_index(symbol, s.bar_seconds, list(rec.bars.open)) if amends else None
        # Order within a message does not matter, except for ties without a seq.
        bars = rec.bars.add(ticks, now_ns=time.time_ns(), index=index)
        not_applied[:] = rec.bars.rejected
        stepped[:] = [rec.bars]
        if rec.bars.late > late_before:
            # Counted and dropped by policy; logged so the loss is visible (a
            # log-based metric), and a hint that TICKCAST_BAR_GRACE_MS is too short.
            _log.warning(
                "late ticks dropped",
                extra={
                    "symbol": symbol,
                    "late": rec.bars.late - late_before,
                    "late_total": rec.bars.late,
                },
            )
        produced = _vectors(s, symbol, rec, bars, trace)
        rec.arrived_ms = time.time_ns() // 1_000_000
        return _decoded.put(key, rec.dump(), rec), produced

    # A redelivered batch is refused by the store, which hands back its outbox.
    applied, produced = store.apply_batch(
        symbol,
        s.bar_seconds,
        batch_id,
        step,
        int(time.time() * 1000),
        event_ms=max(map(_ts, ticks)) // 1_000_000,
        index=lambda: _index_writes(s, stepped[0]),
    )
    if applied and rejected is not None:
        rejected.extend(not_applied)
    return produced


def _index_writes(s: Settings, bars: BarState) -> IndexWrites:
    """The trade-index changes of a step, committed with it."""
    # Kept, from the last trade indexed, for longer than a bar can stay open in wall
    # time (its length, grace, the clock's lag) plus a minute; after that a cancel
    # finds nothing and is dead-lettered, never applied to the wrong bar.
    life_ms = 2 * s.bar_ms + s.bar_grace_ms + s.clock_lag_ms + 60_000
    return IndexWrites(bars.indexed, bars.dropped, time.time_ns() // NS_PER_MS + life_ms)


def on_clock(msg: PushedMessage, s: Settings) -> int:
    """Close every active symbol's bars whose time has passed."""
    try:
        body = orjson.loads(msg.data) if msg.data.strip() else {}
        now_ns = int(body.get("now_ns") or msg.publish_time_ns or time.time_ns())
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError("invalid_clock_message", str(exc)) from None
    store = _store(s.redis_url, s.state_ttl_s)
    lag_ns = s.clock_lag_ms * 1_000_000
    close_ns = now_ns - lag_ns
    event_ms, arrival_ms = store.progress(s.bar_seconds)
    if time.time_ns() // 1_000_000 - arrival_ms < s.clock_lag_ms:
        # Ticks are flowing: time is as far as the market's event time has got, not
        # the wall clock, so a pipeline working off a backlog never has bars closed
        # under the ticks still queued for them.
        close_ns = min(close_ns, event_ms * 1_000_000 - lag_ns)
    since = now_ns // 1_000_000 - s.state_ttl_s * 1000
    symbols = store.active_symbols(s.bar_seconds, since)
    queued = store.inflight(symbols)
    wall_ms = time.time_ns() // 1_000_000
    total = 0
    for symbol in symbols:
        event_ms, claimed_at = queued.get(symbol, (0, 0))
        if wall_ms - claimed_at > INFLIGHT_MAX_AGE_MS:
            event_ms = 0  # claimed long ago and never seen: dead-lettered, not queued
        # The clock id keeps a redelivered clock message idempotent like a batch.
        batch = f"clock:{msg.message_id or now_ns}"
        total += _advance(s, store, symbol, close_ns, batch, event_ms)
    return total


def _advance(
    s: Settings, store: StateStore, symbol: str, now_ns: int, batch_id: str, queued_ms: int
) -> int:
    def step(raw: dict[str, Any] | None, lost: bool) -> tuple[dict[str, Any] | None, list[bytes]]:
        # None: nothing to do, so nothing is written.
        rec = Record(s, raw, lost, symbol)
        if raw is None:
            return (rec.dump() if lost else None), []  # a lost record stays marked lost
        if queued_ms > rec.bars.watermark_ns // NS_PER_MS:
            # Ingest has claimed trades for this symbol newer than any seen here:
            # they are queued in Pub/Sub and close its bars by their own event time.
            return None, []
        if time.time_ns() // 1_000_000 - rec.arrived_ms < s.clock_lag_ms:
            # Ticks are still arriving (perhaps from a backlog): they close bars by
            # their own event time. Closing by wall time now would make them late.
            return None, []
        bars = rec.bars.advance(now_ns)
        if not bars:
            return None, []  # nothing due
        return rec.dump(), _vectors(s, symbol, rec, bars, {"clock": now_ns})

    _, produced = store.apply_batch(symbol, s.bar_seconds, batch_id, step, now_ns // 1_000_000)
    publish(s, "features", [(m, symbol, {}) for m in produced])
    return len(produced)


def handle(msg: PushedMessage, s: Settings) -> int:
    """One entry point for both subscriptions: the clock topic sets `kind=clock`."""
    if msg.attributes.get("kind") == "clock":
        return on_clock(msg, s)
    return on_ticks(msg, s)
