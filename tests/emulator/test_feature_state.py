"""Feature state in a real redis-server: concurrent invocations for one symbol
(separate store instances, as separate function instances would be) give the
same state as sequential processing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from tickcast.config import Settings
from tickcast.features.bars import BarState
from tickcast.features.stage import Record
from tickcast.features.store import ContentionError, StateStore, state_key
from tickcast.schema import Tick

pytestmark = pytest.mark.emulator
T0 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % 3_600_000_000_000


def _apply(s: Settings, symbol: str, batch: str, ticks: tuple[Tick, ...], trace: dict) -> None:
    """One ticks message through the features stage, published like the handler does."""
    from tickcast.features.stage import apply_ticks
    from tickcast.pubsub import publish
    from tickcast.schema import TicksMessage

    msg = TicksMessage(symbol=symbol, ticks=ticks, batch=batch, trace=trace)
    publish(s, "features", [(m, symbol, {}) for m in apply_ticks(s, msg)])


def _one_second(backends, db: int) -> Settings:
    return Settings.from_env(
        {
            **backends.env,
            "TICKCAST_BAR_SECONDS": "1",
            "TICKCAST_REDIS_URL": f"redis://127.0.0.1:{backends.redis_port}/{db}",
        }
    )


def test_concurrent_updates_equal_sequential(backends, symbol: str) -> None:
    s = Settings.from_env({**backends.env, "TICKCAST_BAR_SECONDS": "3600"})
    batches = [
        [
            Tick(
                ts=T0 + (w * 100 + b) * 1_000_000 + k,
                price=100 + k + b % 5,
                size=1 + k,
                id=f"{w}-{b}-{k}",
            )
            for k in range(3)
        ]
        for w in range(4)
        for b in range(25)
    ]

    def worker(mine: list[list[Tick]]) -> None:
        store = StateStore(
            redis.Redis(port=backends.redis_port), ttl_s=600
        )  # its own instance cache

        for ticks in mine:

            def step(
                raw: dict[str, Any] | None, _lost: bool, ticks: list[Tick] = ticks
            ) -> tuple[dict[str, Any], None]:
                rec = Record(s, raw)
                rec.bars.add(ticks)
                return rec.dump(), None

            for _redelivery in range(5):  # what Pub/Sub does after a 5xx
                try:
                    store.update(symbol, s.bar_seconds, step, now_ms=1)
                    break
                except ContentionError:
                    continue

    threads = [threading.Thread(target=worker, args=(batches[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    rev, raw = StateStore(redis.Redis(port=backends.redis_port), 600).load(state_key(symbol, 3600))
    assert rev == len(batches)  # every batch committed exactly once
    got = Record(s, raw).bars
    sequential = BarState(bar_ms=3_600_000, grace_ms=s.bar_grace_ms)
    for ticks in batches:
        sequential.add(ticks)
    assert got.open == sequential.open


def test_lost_state_is_reported_until_warm_again(backends, puller, symbol: str) -> None:
    """Redis wiped under a running instance: features say `state_lost`, never a wrong value."""
    from tickcast.features.bars import NS_PER_MS
    from tickcast.features.stage import _store
    from tickcast.schema import FeaturesMessage

    s = _one_second(backends, 3)
    out = puller("tickcast-features")
    # The symbol is an equity: its session VWAP starts at 09:30 New York, and state
    # built fresh is ready only from a session start. So the first bar opens a session
    # (Tue 2023-11-14 09:30 EST), and the bars after the loss run across the next open.
    t0 = 1_699_972_200 * 1_000_000_000
    next_open = 86_400  # seconds after t0

    def bar(i: int) -> None:  # one trade per second: each closes the bar before
        at = i if i < 40 else next_open - 50 + i  # 40..49 before the open, 50.. after
        tick = Tick(
            ts=t0 + at * 1_000_000_000 + 500 * NS_PER_MS,
            price=100 + (i % 7),
            size=1,
            id=f"{symbol}-{i}",
        )
        _apply(s, symbol, f"b{i}", (tick,), {})

    for i in range(40):
        bar(i)
    before = [FeaturesMessage.model_validate_json(m.data) for m in out.pull(39)]
    assert before[-1].ready and before[-1].reason is None
    redis.Redis(
        port=backends.redis_port, db=3
    ).flushdb()  # the state is gone; the instance lives on
    redis.Redis(port=backends.redis_port, db=3).delete("tickcast:epoch")
    for i in range(40, 80):
        bar(i)
    after = [FeaturesMessage.model_validate_json(m.data) for m in out.pull(40)]
    not_ready = [m for m in after if not m.ready]
    assert not_ready and all((m.reason or "").startswith("state_lost") for m in not_ready)
    assert after[-1].ready, "it warms up again"
    assert all(m.ready for m in after[len(not_ready) :]), "and stays warm"
    assert after[-1].features["sma_10"] == pytest.approx(
        sum(100 + (i % 7) for i in range(69, 79)) / 10
    )
    _store.cache_clear()


def test_hot_path_is_one_redis_round_trip_per_ticks_message(
    backends, symbol: str, monkeypatch
) -> None:
    from tickcast.features.stage import _store

    s = Settings.from_env(
        {
            **backends.env,
            "TICKCAST_BAR_SECONDS": "3600",
            "TICKCAST_REDIS_URL": f"redis://127.0.0.1:{backends.redis_port}/4",
        }
    )
    _apply(
        s, symbol, "warm", (Tick(ts=T0, price=1.0, size=1, id="w"),), {}
    )  # cold start: loads the record
    # Writes to the socket: a pipeline (the commit with the clock's indexes) is one.
    sent: list[bytes] = []
    real = redis.connection.Connection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else command)
        real(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    for b in range(10):
        ticks = tuple(
            Tick(ts=T0 + (b * 5 + k) * 1_000_000, price=1.0 + k, size=1, id=f"{b}-{k}")
            for k in range(5)
        )
        _apply(s, symbol, f"batch-{b}", ticks, {})
    assert len(sent) == 10  # five ticks each, one round trip each
    assert all(b"EVALSHA" in w for w in sent)
    _store.cache_clear()


def test_a_step_that_fails_half_way_is_redone_from_the_committed_state(
    backends, symbol: str, monkeypatch
) -> None:
    """The instance keeps the Record it last committed; a message whose processing
    fails after it mutated that Record must not see the mutation when retried."""
    from tickcast.features import stage
    from tickcast.schema import FeaturesMessage, TicksMessage

    s = _one_second(backends, 6)

    def msg(batch: str, ts: int) -> TicksMessage:
        return TicksMessage(
            symbol=symbol, batch=batch, ticks=(Tick(ts=ts, price=10.0, size=1, id=batch),)
        )

    assert stage.apply_ticks(s, msg("a", T0 + 100_000_000)) == []

    def broken(*args: Any, **kw: Any) -> list[bytes]:
        raise RuntimeError("publish side failed")

    monkeypatch.setattr(stage, "_vectors", broken)
    with pytest.raises(RuntimeError):
        stage.apply_ticks(s, msg("b", T0 + 2_000_000_000))  # closes the first bar, then fails
    monkeypatch.undo()
    out = [
        FeaturesMessage.model_validate_json(m)
        for m in stage.apply_ticks(s, msg("b", T0 + 2_000_000_000))
    ]
    assert [m.seq for m in out] == [T0 // 1_000_000 + 1000], "the first bar closes on the retry"
    assert out[0].bar.v == 1.0
    stage._store.cache_clear()


def test_the_clock_leaves_bars_open_while_ingest_has_newer_ticks_in_flight(
    backends, symbol: str
) -> None:
    """Ingest claimed a trade for the symbol that features has not seen yet (queued in
    Pub/Sub): the clock must not close the bar it may belong to; once the trade is in,
    the clock goes on. A claim never seen for ten minutes was dead-lettered: ignored."""
    import orjson

    from tickcast import clients
    from tickcast.features import stage
    from tickcast.ingest.dedupe import INFLIGHT_KEY, Deduper
    from tickcast.pubsub import PushedMessage
    from tickcast.schema import TicksMessage

    url = f"redis://127.0.0.1:{backends.redis_port}/7"
    s = Settings.from_env(
        {
            **backends.env,
            "TICKCAST_BAR_SECONDS": "1",
            "TICKCAST_CLOCK_LAG_MS": "0",
            "TICKCAST_REDIS_URL": url,
        }
    )
    r = clients.redis_client(url)
    ms = T0 // 1_000_000

    def trade(batch: str, at_ms: int) -> list[bytes]:
        tick = Tick(ts=(ms + at_ms) * 1_000_000, price=10.0, size=1, id=batch)
        return stage.apply_ticks(s, TicksMessage(symbol=symbol, batch=batch, ticks=(tick,)))

    def clock(n: int, at_ms: int = 9_000) -> int:
        body = orjson.dumps({"now_ns": (ms + at_ms) * 1_000_000})
        return stage.on_clock(PushedMessage(body, {"kind": "clock"}, f"c{n}-{symbol}"), s)

    assert trade("a", 100) == []
    Deduper(r, 60).claim([f"{symbol}-q"], f"m-{symbol}", [(symbol, ms + 1_500)])
    assert clock(1) == 0, "the bar stays open: a newer trade is queued"
    assert len(trade("b", 1_500)) == 1  # the queued trade closes the first bar itself
    assert clock(2) == 1, "nothing queued any more: the clock closes the second bar"

    assert trade("c", 9_100) == []
    r.hset(INFLIGHT_KEY, mapping={symbol: ms + 10_500, f"{symbol}@": 1})  # claimed long ago
    assert clock(3, 12_000) == 1, "a claim never seen for ten minutes does not hold bars open"
    stage._store.cache_clear()


def test_ingest_records_the_newest_claimed_trade_per_symbol(backends, symbol: str) -> None:
    from tickcast import clients
    from tickcast.ingest.dedupe import Deduper, inflight

    r = clients.redis_client(f"redis://127.0.0.1:{backends.redis_port}/7")
    d = Deduper(r, 60)
    other = symbol + "X"
    ids = [f"{symbol}-1", f"{symbol}-2", f"{symbol}-q", f"{other}-1"]
    # Every entry, not the list: a list of four False would be truthy too.
    events = [(symbol, 1000), (symbol, 2000), (symbol, 9000), (other, 7)]
    assert d.claim(ids, f"A{symbol}", events) == [True, True, True, True]
    assert d.claim([f"{symbol}-3"], f"B{symbol}", [(symbol, 1500)]) == [True]  # older: kept 2000
    # A resend of a tick someone else claimed is not this message's: it moves nothing.
    assert d.claim([f"{symbol}-1"], f"C{symbol}", [(symbol, 1000)]) == [False]
    got = inflight(r, [symbol, other, symbol + "NONE"])
    assert {k: v[0] for k, v in got.items()} == {symbol: 9000, other: 7}
    assert d.claim([f"{symbol}-q2"], f"D{symbol}", [(symbol, 0)]) == [True]  # a quote: no time
    assert inflight(r, [symbol])[symbol][0] == 9000


def test_a_batch_redelivered_to_another_instance_changes_nothing_and_republishes(
    backends, symbol: str
) -> None:
    """The batch ids live beside the record in Redis, so an instance that never saw
    the batch (a cold one, or one whose cache is older) still refuses it."""
    from tickcast.features import stage
    from tickcast.features.store import state_key
    from tickcast.schema import TicksMessage

    s = _one_second(backends, 7)
    client = redis.Redis(port=backends.redis_port, db=7)

    def msg(batch: str, ts: int) -> TicksMessage:
        return TicksMessage(
            symbol=symbol, batch=batch, ticks=(Tick(ts=ts, price=10.0, size=2, id=batch),)
        )

    assert stage.apply_ticks(s, msg("a", T0 + 100_000_000)) == []
    first = stage.apply_ticks(s, msg("b", T0 + 2_000_000_000))  # closes the first bar
    assert len(first) == 1
    before = client.hgetall(state_key(symbol, 1))

    for cold in (True, False):  # a fresh instance, then the one that applied it
        if cold:
            stage._store.cache_clear()
        assert stage.apply_ticks(s, msg("b", T0 + 2_000_000_000)) == first, "republished as is"
        assert stage.apply_ticks(s, msg("a", T0 + 100_000_000)) == [], "produced nothing"
        assert client.hgetall(state_key(symbol, 1)) == before, "state untouched"
    stage._store.cache_clear()


def test_batch_ids_and_outbox_stay_bounded(backends, symbol: str, monkeypatch) -> None:
    from tickcast.features import store as store_mod
    from tickcast.features.store import StateStore, batches_key, outbox_key

    client = redis.Redis(port=backends.redis_port, db=8)
    st = StateStore(client, ttl_s=600)
    monkeypatch.setattr(store_mod, "BATCH_CAP", 50)

    def step(raw: Any, lost: bool, n: int = 0) -> tuple[dict[str, Any], list[bytes]]:
        return {"v": 2, "n": n}, [f'{{"m":{n}}}'.encode()]

    now = 1_000_000_000
    for n in range(60):
        applied, out = st.apply_batch(
            symbol, 1, f"b{n}", lambda r, lost, n=n: step(r, lost, n), now
        )
        assert applied and out == [f'{{"m":{n}}}'.encode()]
    assert client.zcard(batches_key(symbol, 1)) == 50, "capped by count"
    assert client.hlen(outbox_key(symbol, 1)) == store_mod.OUTBOX_SLOTS, "a ring of slots"
    # The newest batches are still refused and their messages republished; the
    # oldest have left the outbox (nothing to republish) but are still refused.
    assert st.apply_batch(symbol, 1, "b59", step, now) == (False, [b'{"m":59}'])
    assert st.apply_batch(symbol, 1, "b20", step, now) == (False, [])
    # Past the window, old ids are forgotten when the next batch commits.
    later = now + store_mod.BATCH_WINDOW_MS + 1
    assert st.apply_batch(symbol, 1, "late", step, later)[0]
    assert client.zrange(batches_key(symbol, 1), 0, -1) == [b"late"]
