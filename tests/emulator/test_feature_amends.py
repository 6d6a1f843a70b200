"""Cancels and corrections through the features stage, on a real redis-server and the
Pub/Sub emulator: applied to a bar still open whichever instance folded its trades;
dead-lettered as `correction_not_applied` once the bar is published.

Shapes: Alpaca trade cancels `x` and corrections `c` name the trade by exchange and
trade id (https://docs.alpaca.markets/docs/real-time-stock-pricing-data,
https://forum.alpaca.markets/t/message-type-c/8116); ingest turns them into ticks of
kind `cancel` / `correct` whose `ref` is the trade's own `ref`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tickcast.config import Settings
from tickcast.features import stage
from tickcast.pubsub import PushedMessage
from tickcast.schema import FeaturesMessage, Tick, TicksMessage

pytestmark = pytest.mark.emulator
S = 1_000_000_000
T0 = 1_700_000_000 * S  # a 1 s bar boundary


def _settings(backends: Any) -> Settings:
    return Settings.from_env(
        {
            **backends.env,
            "TICKCAST_BAR_SECONDS": "1",
            "TICKCAST_REDIS_URL": f"redis://127.0.0.1:{backends.redis_port}/5",
        }
    )


def _cold_instance() -> None:
    """The next message goes to another function instance: nothing in memory."""
    stage._store.cache_clear()
    stage._decoded = stage._Decoded()


def _push(s: Settings, symbol: str, batch: str, *ticks: Tick) -> int:
    body = TicksMessage(symbol=symbol, ticks=ticks, batch=batch).model_dump_json()
    return stage.on_ticks(PushedMessage(data=body.encode(), message_id=batch), s)


def _trade(ts: int, price: float, ref: str, size: float = 100) -> Tick:
    return Tick(ts=ts, price=price, size=size, source="alpaca", id=f"id-{ref}", ref=ref)


def test_a_cancel_on_another_instance_refolds_the_open_bar(backends, symbol, puller) -> None:
    s = _settings(backends)
    features = puller("tickcast-features")
    _cold_instance()
    _push(
        s,
        symbol,
        "b1",
        _trade(T0 + 100_000_000, 10.0, "D:1"),
        _trade(T0 + 200_000_000, 15.0, "D:2"),  # the erroneous print
        _trade(T0 + 300_000_000, 11.0, "D:3"),
    )
    _cold_instance()
    cancel = Tick(ts=T0 + 400_000_000, price=15.0, size=100, kind="cancel", ref="D:2")
    fix = Tick(ts=T0 + 400_000_000, price=10.5, size=50, kind="correct", ref="D:3")
    _push(s, symbol, "b2", cancel, fix)
    _cold_instance()
    assert _push(s, symbol, "b3", _trade(T0 + S + 500_000_000, 12.0, "D:4")) == 1
    (msg,) = features.pull(1)
    bar = FeaturesMessage.model_validate_json(msg.data).bar
    assert (bar.o, bar.h, bar.l, bar.c, bar.v, bar.n) == (10.0, 10.5, 10.0, 10.5, 150, 2)


def test_a_cancel_after_its_bar_was_published_is_dead_lettered(backends, symbol, puller) -> None:
    s = _settings(backends)
    dead = puller("tickcast-deadletter")
    _cold_instance()
    _push(s, symbol, "c1", _trade(T0 + 100_000_000, 10.0, "P:1"))
    assert _push(s, symbol, "c2", _trade(T0 + S + 500_000_000, 10.2, "P:2")) == 1
    cancel = Tick(ts=T0 + S + 600_000_000, price=10.0, size=100, kind="cancel", ref="P:1")
    _push(s, symbol, "c3", cancel)
    (msg,) = dead.pull(1)
    assert msg.attributes["reason"] == "correction_not_applied"
    assert msg.attributes["stage"] == "features"
    assert json.loads(msg.data) == {"symbol": symbol, "kind": "cancel", "ref": "P:1"}
    # A redelivery of the same batch neither applies nor dead-letters it again.
    _push(s, symbol, "c3", cancel)
    assert dead.pull(1, timeout_s=1.0) == []


def test_trades_with_refs_still_take_one_round_trip(backends, symbol) -> None:
    """The index is written in the commit's pipeline: no extra round trip per message."""
    s = _settings(backends)
    _cold_instance()
    _push(s, symbol, "r1", _trade(T0 + 100_000_000, 10.0, "Q:1"))  # cold: loads the record
    store = stage._store(s.redis_url, s.state_ttl_s)
    pool = store._redis.connection_pool
    sent: list[int] = []
    conn = pool.get_connection()
    pool.release(conn)
    original = type(conn).send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        original(self, command, check_health)

    type(conn).send_packed_command = counting  # type: ignore[method-assign]
    try:
        _push(s, symbol, "r2", _trade(T0 + 200_000_000, 10.1, "Q:2"))
    finally:
        type(conn).send_packed_command = original  # type: ignore[method-assign]
    assert len(sent) == 1
