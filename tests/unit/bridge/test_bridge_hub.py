"""Fan-out: one serialisation per update and channel, per-symbol order with
holes filled from history, alerts once, and a stuck client that only hurts itself."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from tickcast.bench.sample import prediction_doc
from tickcast.bridge import hub as hub_module
from tickcast.bridge.hub import Hub, Subscriber
from tickcast.bridge.outbox import Outbox
from tickcast.bridge.principal import Limits, Principal
from tickcast.bridge.protocol import CLOSE_TOO_SLOW

WHO = Principal("p", "p", "local", None, Limits(10, 10, 10))


async def _nowhere(_text: str) -> None:
    return None


def subscriber(
    name: str, send: Any = _nowhere, soft: int = 64, max_frames: int = 10_000
) -> Subscriber:
    return Subscriber(name, WHO, send, Outbox(soft, max_frames, 1e9))


def pending(s: Subscriber) -> list[str]:
    out = []
    while (e := s.outbox.pop()) is not None:
        s.outbox.sent(e)
        out.append(e.text)
    return out


def test_each_update_is_serialised_once_per_channel_and_shared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"predictions": 0, "bars": 0}
    real_p, real_b = hub_module.prediction_frame, hub_module.bar_frame

    def counted_p(doc: dict[str, Any], *a: Any, **k: Any) -> str:
        calls["predictions"] += 1
        return real_p(doc, *a, **k)

    def counted_b(doc: dict[str, Any], *a: Any, **k: Any) -> str:
        calls["bars"] += 1
        return real_b(doc, *a, **k)

    monkeypatch.setattr(hub_module, "prediction_frame", counted_p)
    monkeypatch.setattr(hub_module, "bar_frame", counted_b)
    hub = Hub()
    subs = [subscriber(f"c{i}") for i in range(50)]
    for s in subs:
        hub.add(s)
        hub.subscribe(s, ("predictions", "AAPL"))
        hub.subscribe(s, ("bars", "AAPL"))
    for seq in (1000, 2000, 3000):
        hub.on_symbol_doc(prediction_doc("AAPL", seq))
    assert calls == {"predictions": 3, "bars": 3}
    frames = [pending(s) for s in subs]
    assert all(len(f) == 6 for f in frames)
    # Not equal copies: the very same string objects went to every client.
    assert all(a is b for f in frames[1:] for a, b in zip(frames[0], f, strict=True))


def test_holes_are_filled_from_history_in_order_and_redeliveries_dropped() -> None:
    history = {seq: prediction_doc("AAPL", seq) for seq in range(1000, 7000, 1000)}
    asked: list[tuple[int, int]] = []

    async def read(symbol: str, after: int, until: int, limit: int) -> list[dict[str, Any]]:
        asked.append((after, until))
        return [history[s] for s in sorted(history) if after < s <= until][-limit:]

    async def scenario() -> list[int]:
        hub = Hub(read)
        s = subscriber("c1")
        hub.add(s)
        hub.subscribe(s, ("predictions", "AAPL"))
        hub.on_symbol_doc(prediction_doc("AAPL", 1000))
        hub.on_symbol_doc(prediction_doc("AAPL", 4000))  # 2000 and 3000 were coalesced away
        hub.on_symbol_doc(prediction_doc("AAPL", 5000))  # arrives while the fill runs
        for _ in range(5):
            await asyncio.sleep(0)
        hub.on_symbol_doc(prediction_doc("AAPL", 3000))  # a late redelivery
        hub.on_symbol_doc(prediction_doc("AAPL", 6000))
        assert hub.filled == 2
        return [int(t.split('"seq":')[1].split(",")[0]) for t in pending(s)]

    assert asyncio.run(scenario()) == [1000, 2000, 3000, 4000, 5000, 6000]
    assert asked == [(1000, 5000)]  # one read covers the hole and what queued behind it


def test_a_failed_fill_still_publishes_what_arrived() -> None:
    async def broken(symbol: str, after: int, until: int, limit: int) -> list[dict[str, Any]]:
        raise RuntimeError("Firestore unavailable")

    async def scenario() -> tuple[int, int]:
        hub = Hub(broken)
        hub.on_symbol_doc(prediction_doc("AAPL", 1000))
        hub.on_symbol_doc(prediction_doc("AAPL", 9000))
        for _ in range(5):
            await asyncio.sleep(0)
        return hub.latest["AAPL"]["seq"], hub.fill_errors

    assert asyncio.run(scenario()) == (9000, 1)


def test_alerts_reach_subscribers_once_even_when_the_listener_replays() -> None:
    hub = Hub()
    s = subscriber("c1")
    hub.add(s)
    hub.subscribe(s, ("alerts", "AAPL"))
    alert = {"symbol": "AAPL", "seq": 1000, "kind": "high_confidence"}
    hub.on_alert("AAPL-1000-high_confidence", alert)
    hub.on_alert("AAPL-1000-high_confidence", alert)  # restarted listener: whole collection again
    hub.on_alert("AAPL-1000-rsi_overbought", {**alert, "kind": "rsi_overbought"})
    kinds = [t for t in pending(s)]
    assert len(kinds) == 2 and "high_confidence" in kinds[0] and "rsi_overbought" in kinds[1]


def test_a_replay_holds_live_updates_then_releases_only_newer_ones_in_order() -> None:
    hub = Hub()
    s = subscriber("c1")
    hub.add(s)
    key = ("predictions", "AAPL")
    hub.subscribe(s, key)
    s.hold(key)
    for seq in (3000, 5000, 4000):
        hub.on_symbol_doc(prediction_doc("AAPL", seq))
    assert pending(s) == []
    s.last_seq[key] = 4000  # the replay got up to 4000
    s.release(key)
    assert ['"seq":5000' in t for t in pending(s)] == [True]


def test_a_stuck_client_is_dropped_while_a_fast_one_gets_every_update() -> None:
    async def scenario() -> tuple[list[int], Subscriber]:
        received: list[int] = []
        never = asyncio.Event()

        async def fast_send(text: str) -> None:
            received.append(int(text.split('"seq":')[1].split(",")[0]))

        async def stuck_send(_text: str) -> None:
            await never.wait()  # the peer stopped reading: the write never completes

        hub = Hub()
        fast, slow = subscriber("fast", fast_send), subscriber("slow", stuck_send, 4, 20)
        for s in (fast, slow):
            hub.add(s)
            hub.subscribe(s, ("predictions", "AAPL"))
        senders = [asyncio.create_task(s.run()) for s in (fast, slow)]
        for seq in range(1, 101):
            hub.on_symbol_doc(prediction_doc("AAPL", seq * 1000))
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        for t in senders:
            t.cancel()
        return received, slow

    received, slow = asyncio.run(scenario())
    assert received == [seq * 1000 for seq in range(1, 101)]
    assert slow.close_code == CLOSE_TOO_SLOW and slow.stopped
    assert "frames behind" in slow.close_reason


def test_sweep_heartbeats_idle_clients_and_ends_aged_and_expired_ones() -> None:
    hub = Hub(heartbeat_s=0.0)
    idle, aged = subscriber("idle"), subscriber("aged")
    aged.max_age_s = 0.0
    expired = Subscriber(
        "expired",
        Principal("j", "j", "jwt", None, WHO.limits, expires_at=1.0),
        _nowhere,
        Outbox(8, 100, 1e9),
    )
    for s in (idle, aged, expired):
        hub.add(s)
    idle.max_age_s = expired.max_age_s = float("inf")
    hub.sweep()
    assert '"type":"heartbeat"' in pending(idle)[0]
    assert aged.close_code == 1001 and aged.closing
    assert expired.close_code == 4401 and "token_expired" in pending(expired)[0]


def test_alert_frames_carry_no_ttl_field() -> None:
    hub = Hub()
    s = subscriber("c1")
    hub.add(s)
    hub.subscribe(s, ("alerts", "AAPL"))
    expire = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    alert = {"symbol": "AAPL", "seq": 1000, "kind": "high_confidence", "expire_at": expire}
    hub.on_alert("AAPL-1000-high_confidence", alert)
    (text,) = pending(s)
    assert '"kind":"high_confidence"' in text and "expire_at" not in text
