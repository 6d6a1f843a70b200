"""Ingest's dedupe through a real redis-server: what counts as a duplicate, and
that its memory stays bounded by (symbol, second) rather than growing per tick.

Each test drives `ingest.stage.handle` (publishing captured, not sent) or the
Deduper on a private redis-server started for this module (no emulators)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import redis

from tickcast.config import Settings
from tickcast.pubsub import PushedMessage
from tickcast.schema import TicksMessage

NOW_S = time.time_ns() // 1_000_000_000 - 30  # inside ingest's timestamp window
T0 = NOW_S * 1_000_000_000


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    from tickcast.local.stack import private_redis

    with private_redis("tickcast-dedupe-test-") as port:
        yield port


@pytest.fixture
def db(redis_port: int) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_port, db=0)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


Handle = Callable[[str, list[dict[str, Any]]], list[TicksMessage]]


@pytest.fixture
def ingest(db: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Handle]:
    """handle(message id, body) -> the ticks messages ingest would publish."""
    from tickcast import clients
    from tickcast.ingest import stage

    port = db.connection_pool.connection_kwargs["port"]
    s = Settings.from_env({"TICKCAST_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    sent: list[TicksMessage] = []

    def publish(_s: Settings, topic: str, out: list[tuple[bytes, str, dict[str, str]]]) -> None:
        assert topic == "ticks"
        sent.extend(TicksMessage.model_validate_json(body) for body, _, _ in out)

    monkeypatch.setattr(stage, "publish", publish)

    def handle(message_id: str, ticks: list[dict[str, Any]]) -> list[TicksMessage]:
        sent.clear()
        body = b"\n".join(orjson.dumps(t) for t in ticks)
        stage.handle(PushedMessage(body, {"format": "tickcast"}, message_id), s)
        return list(sent)

    yield handle
    stage._deduper.cache_clear()
    clients.redis_client.cache_clear()


def trade(symbol: str, id: str, ms: int = 0, price: float = 10.0) -> dict[str, Any]:
    return {"symbol": symbol, "ts": T0 + ms * 1_000_000, "price": price, "size": 1, "id": id}


def quote(symbol: str, id: str, ms: int = 0) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "ts": T0 + ms * 1_000_000,
        "price": 10.0,
        "kind": "quote",
        "bid": 9.99,
        "ask": 10.01,
        "id": id,
    }


def published_ids(out: list[TicksMessage]) -> list[tuple[str, str]]:
    return sorted((m.symbol, t.id) for m in out for t in m.ticks)


def seen_keys(db: redis.Redis) -> list[bytes]:
    return list(db.scan_iter("tickcast:seen:*", count=1000))


def test_a_tick_id_repeated_inside_one_message_is_published_once(
    ingest: Handle, db: redis.Redis
) -> None:
    body = [trade("AAPL", "7"), trade("AAPL", "7"), trade("AAPL", "8", ms=5)]
    assert published_ids(ingest("m1", body)) == [("AAPL", "7"), ("AAPL", "8")]
    # A redelivery whose earlier attempt failed to publish (no done mark) finds its
    # own claims and publishes again, still each tick once.
    db.delete("tickcast:done:m1")
    assert published_ids(ingest("m1", body)) == [("AAPL", "7"), ("AAPL", "8")]


def test_the_same_id_under_two_symbols_is_two_ticks(ingest: Handle) -> None:
    """tickcast's own format lets each publisher number its ticks per symbol."""
    assert published_ids(ingest("m1", [trade("AAPL", "1")])) == [("AAPL", "1")]
    assert published_ids(ingest("m2", [trade("MSFT", "1")])) == [("MSFT", "1")]
    # Each is still a duplicate of itself when another message resends it.
    assert ingest("m3", [trade("AAPL", "1"), trade("MSFT", "1")]) == []


def test_quotes_are_published_but_never_claimed(ingest: Handle, db: redis.Redis) -> None:
    quotes = [quote("AAPL", f"q{k}", ms=k * 300) for k in range(50)]
    out = ingest("m1", quotes)
    assert len(published_ids(out)) == 50
    assert seen_keys(db) == [], "no claim for a tick no stage builds bars from"
    # A redelivery after success is still a no-op, quotes included.
    assert ingest("m1", quotes) == []
    # A trade in the same kind of message is claimed as before.
    ingest("m2", [*quotes[:3], trade("AAPL", "t1")])
    assert len(seen_keys(db)) == 1


def test_claim_keys_stay_bounded_by_symbol_seconds_not_ticks(
    ingest: Handle, db: redis.Redis
) -> None:
    """5,000 trades of 10 symbols over 5 event seconds, 100 per message: the claims
    need at most one key per (symbol, second), not one per tick."""
    symbols, seconds, n, per_message = 10, 5, 5_000, 100
    ticks = [
        trade(f"SYM{k % symbols}", f"id{k}", ms=k * seconds * 1000 // n, price=10 + k % 7)
        for k in range(n)
    ]
    published = 0
    for m in range(0, n, per_message):
        published += len(published_ids(ingest(f"msg{m}", ticks[m : m + per_message])))
    assert published == n
    claims = seen_keys(db)
    assert len(claims) <= symbols * seconds, f"{len(claims)} claim keys for {n} trades"
    done = list(db.scan_iter("tickcast:done:*", count=1000))
    assert len(done) == n // per_message
    assert db.dbsize() <= symbols * seconds + n // per_message + 1  # + the in-flight hash
    # Every claim expires with the dedupe window, so memory is bounded at any rate.
    ttl = Settings.from_env({}).dedupe_ttl_s
    assert all(0 < db.ttl(k) <= ttl for k in claims + done)
    assert ttl <= 3600, "sized to vendor resend windows, not a day"


def test_redelivery_semantics_are_kept(db: redis.Redis) -> None:
    from tickcast.ingest.dedupe import Deduper, inflight

    d = Deduper(db, 60)
    ms = T0 // 1_000_000
    ids = ["a", "b", "q"]
    events = [("AAPL", ms), ("MSFT", ms + 1500), ("AAPL", 0)]  # "q" is a quote
    assert d.claim(ids, "first", events) == [True, True, True]
    # Own claims: the message's earlier attempt may have failed after claiming.
    assert d.claim(ids, "first", events) == [True, True, True]
    # Someone else's claims: a vendor resend in another message; quotes pass.
    assert d.claim(ids, "resend", events) == [False, False, True]
    # The clock's in-flight record: newest claimed trade per symbol.
    assert {k: v[0] for k, v in inflight(db, ["AAPL", "MSFT"]).items()} == {
        "AAPL": ms,
        "MSFT": ms + 1500,
    }
    d.done("first")
    assert d.claim(ids, "first", events) is None, "published: a redelivery is a no-op"
    assert d.claim(["q"], "first", [("AAPL", 0)]) is None, "also when it holds only quotes"


def test_scripts_are_loaded_again_after_redis_forgets_them(db: redis.Redis) -> None:
    """A restart or failover empties Redis's script cache: the pipelined EVALSHAs
    (ingest's claims, features' commit) load their scripts and send again."""
    from tickcast.features.store import StateStore
    from tickcast.ingest.dedupe import Deduper

    d, store = Deduper(db, 60), StateStore(db, 60)
    ms = T0 // 1_000_000
    for n in range(2):
        db.script_flush()
        assert d.claim([f"t{n}"], f"m{n}", [("AAPL", ms)]) == [True]
        db.script_flush()
        applied, _ = store.apply_batch("AAPL", 1, f"b{n}", lambda r, lost: ({"v": 2}, []), ms)
        assert applied
    assert d.claim(["t0"], "other", [("AAPL", ms)]) == [False]
