"""The real app over an in-memory source: one listener per collection however
many clients, the protocol's channels, and what the open endpoints reveal."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tickcast.bench.sample import prediction_doc
from tickcast.bridge import jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE
from tickcast.bridge.memory import MemorySource
from tickcast.config import Settings

SECRET = "s" * 40


def settings(**env: str) -> Settings:
    return Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET, **env})


def jwt(**claims: Any) -> str:
    base = {"sub": "ann", "exp": time.time() + 600, "aud": DEFAULT_JWT_AUDIENCE, "symbols": ["*"]}
    return jwt_hs256.encode({**base, **claims}, SECRET.encode())


@pytest.fixture
def source() -> Iterator[MemorySource]:
    s = MemorySource()
    s.put("symbols", "AAPL", prediction_doc("AAPL", 1000))
    s.put("symbols", "MSFT", prediction_doc("MSFT", 1000))
    yield s
    s.close()


def ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "listeners never synced"
        time.sleep(0.01)


def test_one_listener_per_collection_however_many_clients(source: MemorySource) -> None:
    app = create_app(settings(TICKCAST_WS_ALLOW_UNAUTHENTICATED="true"), source=source)
    with TestClient(app) as client:
        ready(client)
        sockets = [client.websocket_connect("/ws").__enter__() for _ in range(20)]
        for ws in sockets:
            ws.receive_json()
            ws.send_json({"type": "subscribe", "symbols": ["AAPL", "MSFT"]})
            assert ws.receive_json()["type"] == "subscribed"
        assert client.get("/stats").json()["subscriptions"] == 40
        for ws in sockets:
            ws.__exit__(None, None, None)
    assert source.listens == 3  # symbols, alerts, api_keys: never one per client


def test_channels_unsubscribe_and_ping(source: MemorySource) -> None:
    app = create_app(settings(TICKCAST_WS_ALLOW_UNAUTHENTICATED="true"), source=source)
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ready(client)
        welcome = ws.receive_json()
        assert welcome["channels"] == ["predictions", "bars", "alerts"]  # no Pub/Sub: no trades
        assert welcome["auth"]["kind"] == "local"
        ws.send_json({"type": "subscribe", "channel": "bars", "symbol": "AAPL"})
        assert ws.receive_json()["type"] == "subscribed"
        snap = ws.receive_json()
        assert (snap["type"], snap["channel"], snap["seq"]) == ("snapshot", "bars", 1000)
        assert "prediction" not in snap["data"] and snap["data"]["bar"]["c"] > 0
        ws.send_json({"type": "subscribe", "channel": "alerts", "symbol": "AAPL"})
        assert ws.receive_json()["type"] == "subscribed"
        alert = {"symbol": "AAPL", "seq": 2000, "created_at": int(time.time() * 1000)}
        source.put("alerts", "AAPL-2000-high_confidence", alert)
        alert = ws.receive_json()
        assert (alert["type"], alert["id"]) == ("alert", "AAPL-2000-high_confidence")
        ws.send_json({"type": "unsubscribe", "channel": "bars", "symbol": "AAPL"})
        assert ws.receive_json() == {
            "type": "unsubscribed",
            "channel": "bars",
            "symbols": ["AAPL"],
        }
        source.put("symbols", "AAPL", prediction_doc("AAPL", 2000))
        ws.send_json({"type": "ping", "id": "p1"})
        pong = ws.receive_json()  # no bar frame in between: the subscription is gone
        assert (pong["type"], pong["id"]) == ("pong", "p1")


def test_endpoints_without_credentials_reveal_counts_only(source: MemorySource) -> None:
    with TestClient(create_app(settings(), source=source)) as client:
        ready(client)
        for path in ("/v1/symbols", "/v1/symbols/AAPL", "/v1/symbols/AAPL/predictions"):
            r = client.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/symbols", params={"token": "nope"}).status_code == 401
        for path in ("/healthz", "/readyz", "/stats", "/metrics"):
            r = client.get(path)
            assert r.status_code == 200 and "AAPL" not in r.text and "MSFT" not in r.text
        only_msft = {"Authorization": f"Bearer {jwt(symbols=['MSFT'])}"}
        assert [d["symbol"] for d in client.get("/v1/symbols", headers=only_msft).json()] == [
            "MSFT"
        ]
        assert client.get("/v1/symbols/AAPL", headers=only_msft).status_code == 403
        assert client.get("/v1/symbols/MSFT", headers=only_msft).json()["seq"] == 1000


def test_a_jwt_in_the_first_message_or_the_query_opens_the_socket(source: MemorySource) -> None:
    with TestClient(create_app(settings(), source=source)) as client:
        ready(client)
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "auth", "token": jwt(symbols=["AAPL"], name="Ann")})
            welcome = ws.receive_json()
            assert welcome["type"] == "welcome"
            assert (welcome["auth"]["principal"], welcome["auth"]["symbols"]) == ("Ann", ["AAPL"])
            ws.send_json({"type": "auth", "token": jwt()})  # a fresh token, same identity
            assert ws.receive_json()["type"] == "authenticated"
            ws.send_json({"type": "auth", "token": jwt(sub="bob")})
            assert ws.receive_json()["code"] == "already_authenticated"
        with client.websocket_connect(f"/ws?token={jwt()}") as ws:
            assert ws.receive_json()["auth"]["kind"] == "jwt"


def test_tokens_in_websocket_urls_are_redacted_from_server_logs(
    source: MemorySource, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(settings(), source=source)):
        logging.getLogger("uvicorn.error").warning(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/ws?token=tck_secret&x=1"
        )
    assert "tck_secret" not in caplog.text and "token=[redacted]&x=1" in caplog.text
