"""Re-authentication re-checks everything (issue 14, point 3).

A new token (or an edited API key) for an open connection re-checks every
subscription against the new entitlements, dropping those no longer allowed
with an `unsubscribed` frame and a reason, and its rate limit replaces the
old one. An HS256 token without `symbols` reads nothing; `aud` is required
when a secret is set; `exp` is judged with one leeway at decode and by the
sweep of open connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tickcast.bench.sample import prediction_doc
from tickcast.bridge import apikeys, jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import Authenticator, KeyRing
from tickcast.bridge.hub import Hub, Subscriber
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.outbox import Outbox
from tickcast.config import Settings

SECRET = "r" * 40
AUDIENCE = "tickcast-test"


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_JWT_AUDIENCE": AUDIENCE, **env}
    )


def jwt(**claims: Any) -> str:
    base = {"sub": "ann", "exp": time.time() + 600, "aud": AUDIENCE}
    return jwt_hs256.encode({**base, **claims}, SECRET.encode())


@pytest.fixture
def source() -> Iterator[MemorySource]:
    s = MemorySource()
    for sym in ("AAPL", "MSFT"):
        s.put("symbols", sym, prediction_doc(sym, 1000))
    yield s
    s.close()


@pytest.fixture
def client(source: MemorySource) -> Iterator[TestClient]:
    with TestClient(create_app(settings(), source=source)) as c:
        deadline = time.monotonic() + 10
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "listeners never synced"
            time.sleep(0.01)
        yield c


def until_type(ws: Any, *types: str) -> dict[str, Any]:
    while True:
        msg: dict[str, Any] = ws.receive_json()
        if msg["type"] in types:
            return msg


def test_a_new_token_drops_the_subscriptions_it_no_longer_allows(
    client: TestClient, source: MemorySource
) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": jwt(symbols=["AAPL", "MSFT"])})
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "subscribe", "symbols": ["AAPL", "MSFT"]})
        ws.send_json({"type": "subscribe", "channel": "bars", "symbol": "MSFT"})
        for _ in range(2):
            until_type(ws, "subscribed")
        ws.send_json({"type": "auth", "token": jwt(symbols=["AAPL"])})
        assert until_type(ws, "authenticated")["symbols"] == ["AAPL"]
        dropped = [until_type(ws, "unsubscribed") for _ in range(2)]
        assert sorted((d["channel"], d["symbols"][0], d["reason"]) for d in dropped) == [
            ("bars", "MSFT", "forbidden"),
            ("predictions", "MSFT", "forbidden"),
        ]
        assert all(d["message"] for d in dropped)
        assert client.get("/stats").json()["subscriptions"] == 1
        source.put("symbols", "MSFT", prediction_doc("MSFT", 2000))
        source.put("symbols", "AAPL", prediction_doc("AAPL", 2000))
        update = until_type(ws, "prediction", "bar")
        assert (update["symbol"], update["seq"]) == ("AAPL", 2000)  # nothing of MSFT


def test_a_new_token_replaces_the_message_rate(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": jwt(limits={"messages_per_second": 100})})
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "auth", "token": jwt(limits={"messages_per_second": 1})})
        assert until_type(ws, "authenticated")["limits"]["messages_per_second"] == 1
        for i in range(6):
            ws.send_json({"type": "ping", "id": i})
        kinds: list[str] = []
        try:
            while len(kinds) < 6:
                m = until_type(ws, "pong", "error")
                kinds.append(m.get("code") or m["type"])
        except WebSocketDisconnect as closed:
            assert closed.code == 4429  # kept flooding at the new rate: cut off
    # The old rate (100/s) would have answered all six; the new one allows a second's worth.
    assert kinds[0] == "pong" and "rate_limited" in kinds, kinds


def test_an_edited_api_key_re_checks_its_open_connections(
    client: TestClient, source: MemorySource
) -> None:
    key_id, token = apikeys.new_token()
    record = {"hash": apikeys.token_hash(token), "symbols": ["AAPL", "MSFT"], "limits": {}}
    source.put("api_keys", key_id, record)
    with client.websocket_connect(f"/ws?token={token}") as ws:
        assert ws.receive_json()["auth"]["symbols"] == ["AAPL", "MSFT"]
        ws.send_json({"type": "subscribe", "symbols": ["AAPL", "MSFT"]})
        until_type(ws, "subscribed")
        source.put("api_keys", key_id, {**record, "symbols": ["AAPL"]})  # narrowed by an admin
        dropped = until_type(ws, "unsubscribed")
        assert (dropped["symbols"], dropped["reason"]) == (["MSFT"], "forbidden")


def test_a_jwt_without_a_symbols_claim_reads_nothing(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": jwt()})
        assert ws.receive_json()["auth"]["symbols"] == []
        ws.send_json({"type": "subscribe", "symbol": "AAPL"})
        assert ws.receive_json()["code"] == "forbidden"
    bearer = {"authorization": f"Bearer {jwt()}"}
    assert client.get("/v1/symbols", headers=bearer).json() == []
    assert client.get("/v1/symbols/AAPL", headers=bearer).status_code == 403


def test_with_a_secret_set_a_jwt_must_carry_the_audience(source: MemorySource) -> None:
    # No TICKCAST_WS_JWT_AUDIENCE: the secret alone must not admit tokens minted for
    # any other service that shares it.
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET})
    claims = {"sub": "ann", "exp": time.time() + 600, "symbols": ["*"]}
    with TestClient(create_app(cfg, source=source)) as client:
        for aud in (None, "another-service"):
            token = jwt_hs256.encode({**claims, **({"aud": aud} if aud else {})}, SECRET.encode())
            with client.websocket_connect("/ws") as ws:
                ws.send_json({"type": "auth", "token": token})
                refused = ws.receive_json()
                assert refused["code"] == "unauthorized" and "aud" in refused["message"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == 4401
        from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE

        ok = jwt_hs256.encode({**claims, "aud": DEFAULT_JWT_AUDIENCE}, SECRET.encode())
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "auth", "token": ok})
            assert ws.receive_json()["type"] == "welcome"


def test_exp_has_the_same_leeway_at_decode_and_at_the_sweep() -> None:
    auth = Authenticator(settings(), MemorySource(), KeyRing())
    now = time.time()
    inside = jwt(exp=now - jwt_hs256.LEEWAY_S / 2, symbols=["*"])  # expired, within the leeway
    principal = asyncio.run(auth.authenticate(inside))  # accepted at decode ...

    async def _nowhere(_t: str) -> None:
        return None

    hub = Hub(heartbeat_s=1e9)
    sub = Subscriber("c1", principal, _nowhere, Outbox(8, 100, 1e9))
    hub.add(sub)
    hub.sweep()
    assert not sub.closing  # ... so the sweep must not end it a second later
    assert principal.expires_at is not None
    assert principal.expired(principal.expires_at + jwt_hs256.LEEWAY_S + 1)
    beyond = jwt(exp=now - jwt_hs256.LEEWAY_S - 5, symbols=["*"])
    with pytest.raises(jwt_hs256.TokenError) as exc:
        asyncio.run(auth.authenticate(beyond))
    assert exc.value.code == "token_expired"
