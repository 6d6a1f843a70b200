"""Channel `trades`: what becomes the last trade and the best quote, the frame's
shape, at most `rate` frames per client and symbol with the latest state last,
entitlements as on every channel, and when the bridge opens its subscription."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tickcast.bridge import jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE
from tickcast.bridge.hub import Hub, Subscriber
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.outbox import Outbox
from tickcast.bridge.principal import Limits, Principal
from tickcast.bridge.trades import Book, Throttle, TicksFeed, enabled
from tickcast.config import Settings
from tickcast.schema import TicksMessage

WHO = Principal("p", "p", "local", None, Limits(10, 10, 10))
SECRET = "s" * 40
NS = 1_700_000_000_000_000_000


def ticks(symbol: str, *ticks: dict[str, Any], trace: dict[str, int] | None = None) -> TicksMessage:
    return TicksMessage(
        symbol=symbol,
        ticks=tuple(ticks),  # type: ignore[arg-type]
        batch="b",
        trace=trace or {"event": NS, "ingest": NS + 5},
    )


def trade(price: float, ts: int = NS, **kw: Any) -> dict[str, Any]:
    return {"ts": ts, "price": price, "size": 10.0, "kind": "trade", "source": "alpaca", **kw}


def quote(bid: float, ask: float, ts: int = NS) -> dict[str, Any]:
    return {
        "ts": ts,
        "price": (bid + ask) / 2,
        "kind": "quote",
        "bid": bid,
        "ask": ask,
        "bid_size": 1.0,
        "ask_size": 2.0,
    }


async def _nowhere(_text: str) -> None:
    return None


def frames(s: Subscriber) -> list[dict[str, Any]]:
    out = []
    while (e := s.outbox.pop()) is not None:
        s.outbox.sent(e)
        out.append(orjson.loads(e.text))
    return out


def test_trades_set_the_last_price_quotes_the_best_bid_ask_bars_and_cancels_do_not() -> None:
    book = Book()
    q = book.apply(ticks("AAPL", trade(101.0, id="t1", ref="t1", exchange="V")), now_ns=7)
    assert q is not None and q.seq == 1
    frame = orjson.loads(q.text)
    assert frame == {
        "type": "trade",
        "channel": "trades",
        "symbol": "AAPL",
        "seq": 1,
        "data": {
            "symbol": "AAPL",
            "last": {
                "price": 101.0,
                "size": 10.0,
                "ts": NS,
                "exchange": "V",
                "conditions": [],
                "id": "t1",
                "ref": "t1",
                "corrected": False,
            },
            "quote": None,
            "trace": {"event": NS, "ingest": NS + 5, "bridge": 7},
        },
    }
    bar = {"ts": NS + 1, "price": 500.0, "kind": "bar", "open": 1.0, "bar_s": 60}
    assert book.apply(ticks("AAPL", bar)) is None  # a bar is not a trade
    assert book.apply(ticks("AAPL", trade(99.0, ts=NS - 1))) is None  # older than the last
    q = book.apply(ticks("AAPL", quote(100.5, 100.7, ts=NS + 2)))
    assert q is not None and q.last is not None and q.last["price"] == 101.0
    assert q.quote == {
        "bid": 100.5,
        "ask": 100.7,
        "bid_size": 1.0,
        "ask_size": 2.0,
        "mid": pytest.approx(100.6),
        "ts": NS + 2,
    }
    # A cancel of another trade changes nothing; of the last one, flags it.
    other = {"ts": NS + 3, "price": 101.0, "kind": "cancel", "ref": "t0"}
    assert book.apply(ticks("AAPL", other)) is None
    cancel = {"ts": NS + 3, "price": 101.0, "kind": "cancel", "ref": "t1"}
    q = book.apply(ticks("AAPL", cancel))
    assert q is not None and q.last is not None
    assert (q.last["price"], q.last["corrected"], q.seq) == (101.0, True, 3)
    q = book.apply(ticks("AAPL", trade(102.0, ts=NS + 4, id="t2")))
    assert q is not None and q.last is not None and q.last["corrected"] is False


def test_throttle_sends_at_once_then_once_per_interval_with_what_arrived_between() -> None:
    th = Throttle(4.0)
    assert th.admit("AAPL", 10.0) is None
    assert th.admit("AAPL", 10.1) == pytest.approx(0.15)  # schedule one send at 10.25
    assert th.admit("AAPL", 10.2) == -1.0  # already scheduled: coalesced
    assert th.admit("MSFT", 10.2) is None  # per symbol
    th.fired("AAPL", 10.25)
    assert th.admit("AAPL", 10.3) == pytest.approx(0.2)
    th.forget("AAPL")
    assert th.admit("AAPL", 10.3) is None
    assert th.coalesced == 1


def test_a_burst_reaches_a_client_as_at_most_rate_frames_ending_with_the_latest() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        hub = Hub(trades_rate=10.0)
        s = Subscriber("a", WHO, _nowhere, Outbox(64, 10_000, 1e9))
        other = Subscriber("b", WHO, _nowhere, Outbox(64, 10_000, 1e9))
        hub.add(s)
        hub.add(other)
        hub.subscribe(s, ("trades", "AAPL"))
        hub.subscribe(other, ("trades", "MSFT"))  # another symbol: nothing of AAPL
        for i in range(50):  # 50 trades in ~0.25 s
            hub.on_ticks(ticks("AAPL", trade(100.0 + i, ts=NS + i)))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.15)  # the last interval ends: its pending send goes out
        return frames(s), frames(other)

    got, other = asyncio.run(scenario())
    assert other == []
    assert 2 <= len(got) <= 5, [f["data"]["last"]["price"] for f in got]  # 10/s over ~0.35 s
    assert got[0]["data"]["last"]["price"] == 100.0
    assert got[-1]["data"]["last"]["price"] == 149.0  # conflated, never stale
    assert [f["seq"] for f in got] == sorted(f["seq"] for f in got)


def test_unsubscribing_cancels_a_pending_send() -> None:
    async def scenario() -> list[dict[str, Any]]:
        hub = Hub(trades_rate=20.0)
        s = Subscriber("a", WHO, _nowhere, Outbox(64, 10_000, 1e9))
        hub.add(s)
        hub.subscribe(s, ("trades", "AAPL"))
        hub.on_ticks(ticks("AAPL", trade(1.0)))
        hub.on_ticks(ticks("AAPL", trade(2.0, ts=NS + 1)))  # pending
        hub.unsubscribe(s, ("trades", "AAPL"))
        await asyncio.sleep(0.1)
        return frames(s)

    assert [f["data"]["last"]["price"] for f in asyncio.run(scenario())] == [1.0]


def jwt(**claims: Any) -> str:
    base = {"sub": "ann", "exp": time.time() + 600, "aud": DEFAULT_JWT_AUDIENCE}
    return jwt_hs256.encode({**base, **claims}, SECRET.encode())


def test_the_app_serves_trades_with_a_snapshot_and_applies_entitlements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On, without Pub/Sub: the subscription opens as a no-op and ticks are handed to the
    # hub directly, on its loop.
    monkeypatch.setattr(TicksFeed, "start", lambda self: None)
    source = MemorySource()
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_TRADES": "true"})
    app = create_app(cfg, source=source)
    hub: Hub = app.state.hub
    with TestClient(app) as client:
        client.portal.call(hub.on_ticks, ticks("AAPL", trade(101.0)))  # type: ignore[union-attr]
        with client.websocket_connect(f"/ws?token={jwt(symbols=['AAPL'])}") as ws:
            assert "trades" in ws.receive_json()["channels"]
            ws.send_json({"type": "subscribe", "channel": "trades", "symbol": "MSFT"})
            assert ws.receive_json()["code"] == "forbidden"
            ws.send_json({"type": "subscribe", "channel": "trades", "symbols": ["AAPL"]})
            assert ws.receive_json() == {
                "type": "subscribed",
                "channel": "trades",
                "symbols": ["AAPL"],
            }
            snap = ws.receive_json()
            assert (snap["type"], snap["channel"], snap["data"]["last"]["price"]) == (
                "snapshot",
                "trades",
                101.0,
            )
            time.sleep(0.3)  # past the client's interval: the next update goes out at once
            client.portal.call(  # type: ignore[union-attr]
                hub.on_ticks, ticks("MSFT", trade(5.0))
            )
            client.portal.call(  # type: ignore[union-attr]
                hub.on_ticks, ticks("AAPL", quote(101.0, 101.2, ts=NS + 1))
            )
            live = ws.receive_json()  # MSFT never arrives: not subscribed, not entitled
            assert (live["type"], live["symbol"], live["data"]["quote"]["ask"]) == (
                "trade",
                "AAPL",
                101.2,
            )
            assert "bridge" in live["data"]["trace"] and "event" in live["data"]["trace"]


def test_the_subscription_opens_where_pubsub_is_reachable_or_when_asked() -> None:
    from tickcast.errors import ConfigError

    unset = Settings.from_env({})
    assert not enabled(unset, {})
    assert enabled(unset, {"PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"})
    assert enabled(unset, {"K_SERVICE": "tickcast-ws-bridge"})
    off = Settings.from_env({"TICKCAST_WS_TRADES": "false"})
    assert not enabled(off, {"K_SERVICE": "x"})
    assert enabled(Settings.from_env({"TICKCAST_WS_TRADES": "true"}), {})
    with pytest.raises(ConfigError, match="TICKCAST_WS_TRADES"):
        Settings.from_env({"TICKCAST_WS_TRADES": "maybe"})
    assert unset.ws_trades_rate == 4.0
    assert Settings.from_env({"TICKCAST_WS_TRADES_RATE": "10"}).ws_trades_rate == 10.0
    for bad in ("0", "-1", "x", "5000"):
        with pytest.raises(ConfigError, match="TICKCAST_WS_TRADES_RATE"):
            Settings.from_env({"TICKCAST_WS_TRADES_RATE": bad})


def test_without_pubsub_the_channel_is_not_offered_and_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_TRADES": "false"})
    app = create_app(cfg, source=MemorySource())
    with TestClient(app) as client, client.websocket_connect(f"/ws?token={jwt()}") as ws:
        assert "trades" not in ws.receive_json()["channels"]
        ws.send_json({"type": "subscribe", "channel": "trades", "symbol": "AAPL"})
        err = ws.receive_json()
        assert (err["type"], err["code"]) == ("error", "invalid_message")
        assert "'trades' is off" in err["message"]
