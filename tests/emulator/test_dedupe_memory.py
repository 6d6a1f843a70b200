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


def test_a_redis_that_keeps_forgetting_the_scripts_gets_an_error_not_a_loop(
    db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loaded once again, then the error: a server whose script cache does not keep
    them (a proxy in front of several servers, a script-less replica) must answer a
    5xx for redelivery, not recurse until Python's recursion limit."""
    from redis.exceptions import NoScriptError

    from tickcast.ingest.dedupe import Deduper

    d = Deduper(db, 60)
    loads: list[str] = []
    monkeypatch.setattr(db, "script_load", lambda script: loads.append(script))
    db.script_flush()
    with pytest.raises(NoScriptError):
        d.claim(["t"], "m", [("AAPL", T0 // 1_000_000)])
    assert len(loads) == 2  # the claim script and the in-flight one, once each


def test_features_commit_against_a_redis_that_keeps_forgetting_gets_an_error_not_a_loop(
    db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for features' commit script (features/store.py)."""
    from redis.exceptions import NoScriptError

    from tickcast.features.store import StateStore

    store = StateStore(db, 60)
    loads: list[str] = []
    monkeypatch.setattr(db, "script_load", lambda script: loads.append(script))
    db.script_flush()
    with pytest.raises(NoScriptError):
        store.apply_batch("AAPL", 1, "b", lambda r, lost: ({"v": 2}, []), T0 // 1_000_000)
    assert len(loads) == 1


# The claim script before claims were packed (one HSETNX per tick, ARGV of bucket
# index, digest pairs), kept verbatim: instances running it and instances running
# the packed one share a Redis during a rolling deploy.
_PREVIOUS_CLAIM = """
local owner, ttl = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local key, field = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  local mine = redis.call('HSETNX', key, field, owner) == 1 or redis.call('HGET', key, field) == owner
  out[#out + 1] = mine and 1 or 0
end
for k = 1, #KEYS do
  redis.call('EXPIRE', KEYS[k], ttl)
end
return out
"""


def _previous_claim(db: redis.Redis, symbol: str, owner: str, ids: list[str], ms: int) -> list[int]:
    """One symbol's claims of one event second, as an instance of the previous version sends them."""
    from tickcast import keys as K
    from tickcast.ingest.dedupe import _digest

    args: list[Any] = [_digest(owner), 60]
    for tick_id in ids:
        args += [1, _digest(tick_id)]
    return [int(x) for x in db.eval(_PREVIOUS_CLAIM, 1, K.seen(symbol, ms // 1000), *args)]


def test_claims_are_shared_with_the_previous_script_during_a_rolling_deploy(
    db: redis.Redis,
) -> None:
    """Same keys, fields and values: each version sees the other's claims as its
    owner's (republish) or someone else's (a resend)."""
    from tickcast import keys as K
    from tickcast.ingest.dedupe import Deduper, _digest

    d = Deduper(db, 60)
    ms = T0 // 1_000_000
    # Claimed by an old instance, then redelivered to or resent through a new one.
    assert _previous_claim(db, "AAPL", "old-1", ["a", "b"], ms) == [1, 1]
    assert d.claim(["a", "b", "c"], "old-1", [("AAPL", ms)] * 3) == [True, True, True]
    assert d.claim(["a", "b", "c", "d"], "new-2", [("AAPL", ms)] * 4) == [
        False,
        False,
        False,
        True,
    ]
    # Claimed by a new instance (the few-ticks path and the packed one), then seen by an old one.
    many = [f"m{k}" for k in range(10)]
    assert d.claim(many, "new-3", [("MSFT", ms + 1)] * 10) == [True] * 10
    assert _previous_claim(db, "MSFT", "new-3", [*many, "x"], ms + 1) == [1] * 11
    assert _previous_claim(db, "MSFT", "old-4", [*many, "x", "y"], ms + 1) == [0] * 11 + [1]
    assert d.claim(["d"], "old-4", [("AAPL", ms)]) == [False]
    # The layout itself: field = digest of the tick id, value = digest of the owner.
    assert db.hgetall(K.seen("AAPL", ms // 1000)) == {
        _digest("a"): _digest("old-1"),
        _digest("b"): _digest("old-1"),
        _digest("c"): _digest("old-1"),
        _digest("d"): _digest("new-2"),
    }
    assert 0 < db.ttl(K.seen("MSFT", ms // 1000)) <= 60


def test_digests_with_any_bytes_are_packed_and_claimed_exactly(db: redis.Redis) -> None:
    """The script cuts one string into 8-byte fields: NUL, CR LF, '0', '1' and bytes
    above 127 inside a digest must not shift or end them."""
    from tickcast import keys as K
    from tickcast.ingest.dedupe import Deduper, _digest

    wanted = [b"\x00", b"\r\n", b"0", b"1", b"\xff"]
    ids: list[str] = []
    k = 0
    while wanted:
        digest = _digest(f"id{k}")
        for w in [w for w in wanted if w in digest]:
            wanted.remove(w)
            ids.append(f"id{k}")
        k += 1
    ids += [f"plain{k}" for k in range(6)]  # past the few-ticks path: the packed one
    ms = T0 // 1_000_000
    d = Deduper(db, 60)
    assert d.claim(ids, "m1", [("AAPL", ms)] * len(ids)) == [True] * len(ids)
    fields = db.hgetall(K.seen("AAPL", ms // 1000))
    assert fields == {_digest(i): _digest("m1") for i in ids}
    assert d.claim(ids, "m2", [("AAPL", ms)] * len(ids)) == [False] * len(ids)
    assert d.claim(ids, "m1", [("AAPL", ms)] * len(ids)) == [True] * len(ids)


def test_large_messages_claim_by_position_across_chunks_and_seconds(db: redis.Redis) -> None:
    """More ticks of one (symbol, second) than the script handles in one HMGET
    (1,000), interleaved symbols and seconds, a resend overlapping half of them,
    copies inside the message and quotes: every answer lands on its own tick."""
    from tickcast import keys as K
    from tickcast.ingest.dedupe import Deduper, inflight

    d = Deduper(db, 60)
    ms = T0 // 1_000_000
    ids = [f"t{k}" for k in range(3_500)]
    events = [("AAPL" if k % 3 else "MSFT", ms + (k % 2) * 1000 + k % 7) for k in range(3_500)]
    assert d.claim(ids, "m1", events) == [True] * 3_500
    assert db.hlen(K.seen("AAPL", ms // 1000)) > 1_000, "more than one chunk"
    # A resend of every other tick among new ones, a copy and a quote; MSFT's third second
    # holds only two ticks (the few-ticks path).
    ids2 = [*(f"t{k}" for k in range(0, 3_500, 2)), *(f"n{k}" for k in range(1_300))]
    events2 = [*(events[k] for k in range(0, 3_500, 2))]
    events2 += [("AAPL" if k % 3 else "MSFT", ms + (k % 2) * 1000) for k in range(1_298)]
    events2 += [("MSFT", ms + 2000), ("MSFT", ms + 2001)]
    ids2 += ["n0", "q"]
    events2 += [("MSFT", ms + 1), ("AAPL", 0)]  # n0 is a MSFT tick: this is its copy
    expected = [False] * 1_750 + [True] * 1_300 + [False, True]  # the copy of n0; the quote
    assert d.claim(ids2, "m2", events2) == expected
    assert d.claim(ids2, "m1", events2) == [True] * 1_750 + [False] * 1_300 + [False, True]
    assert inflight(db, ["MSFT"])["MSFT"][0] == ms + 2001


def test_a_client_decoding_replies_gets_the_same_answers(redis_port: int) -> None:
    from tickcast.ingest.dedupe import Deduper

    client = redis.Redis(port=redis_port, db=1, decode_responses=True)
    try:
        client.flushdb()
        d = Deduper(client, 60)
        ms = T0 // 1_000_000
        ids = [f"t{k}" for k in range(6)]
        assert d.claim(ids, "m1", [("AAPL", ms)] * 6) == [True] * 6
        assert d.claim([*ids[:3], "new"], "m2", [("AAPL", ms)] * 4) == [False] * 3 + [True]
    finally:
        client.flushdb()
        client.close()
