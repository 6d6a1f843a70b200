"""Every way the bridge refuses a client, against the Firestore emulator
(API keys live in `api_keys`): bad token, revoked key, expired JWT, wrong
origin, too many connections or subscriptions, rate limit, auth deadline,
symbols outside the entitlements, REST without credentials, and the keys CLI."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tickcast import clients
from tickcast.bench.sample import prediction_doc
from tickcast.bridge import apikeys, jwt_hs256, keys_cli
from tickcast.bridge.app import create_app
from tickcast.bridge.principal import Limits
from tickcast.config import Settings
from tickcast.errors import TickcastError
from tickcast.predict import store

pytestmark = pytest.mark.emulator

SECRET = "j" * 48


def settings(backends: Any, **over: str) -> Settings:
    return Settings.from_env({**backends.env, "TICKCAST_WS_JWT_SECRET": SECRET, **over})


@pytest.fixture
def db(backends: Any) -> Any:
    return clients.firestore_client(backends.project)


@pytest.fixture
def client(backends: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings(backends))) as c:
        yield c


def new_key(db: Any, symbols: list[str] | None = None, **limits: float) -> str:
    base = {"max_connections": 10, "max_subscriptions": 50, "messages_per_second": 50.0, **limits}
    _, token = apikeys.create(db, "test", symbols or ["*"], Limits(**base))  # type: ignore[arg-type]
    return token


def refusal(ws: Any) -> tuple[str, int]:
    """The error frame's code, then the close code that follows it."""
    frame = ws.receive_json()
    assert frame["type"] == "error" and frame["message"]
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return frame["code"], closed.value.code


def test_an_api_key_opens_the_socket_by_query_or_by_first_message(
    client: TestClient, db: Any
) -> None:
    token = new_key(db, ["AAPL", "MSFT"])
    with client.websocket_connect(f"/ws?token={token}") as ws:
        auth = ws.receive_json()["auth"]
        assert (auth["kind"], auth["symbols"]) == ("api_key", ["AAPL", "MSFT"])
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        assert ws.receive_json()["type"] == "welcome"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        jwt_hs256.encode({"sub": "x", "exp": time.time() + 60}, b"w" * 48),  # wrong secret
        "tck_0123456789ab_" + "A" * 43,  # well-formed, unknown key
        "tck_short",
    ],
    ids=["garbage", "jwt-wrong-secret", "unknown-key", "malformed-key"],
)
def test_bad_tokens_are_refused_with_4401(client: TestClient, token: str) -> None:
    with client.websocket_connect(f"/ws?token={token}") as ws:
        assert refusal(ws) == ("unauthorized", 4401)


def test_a_revoked_key_is_refused_and_its_open_socket_is_closed(
    client: TestClient, db: Any
) -> None:
    token = new_key(db)
    with client.websocket_connect(f"/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "welcome"
        assert apikeys.revoke(db, apikeys.key_id_of(token))
        # The api_keys listener sees the revocation and ends this very socket.
        assert refusal(ws) == ("revoked", 4401)
    with client.websocket_connect(f"/ws?token={token}") as ws:
        assert refusal(ws) == ("revoked", 4401)
    assert (
        client.get("/v1/symbols", headers={"authorization": f"Bearer {token}"}).status_code == 401
    )


def test_an_expired_jwt_is_refused(client: TestClient) -> None:
    expired = jwt_hs256.encode({"sub": "ann", "exp": time.time() - 120}, SECRET.encode())
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": expired})
        assert refusal(ws) == ("token_expired", 4401)


def test_a_wrong_origin_is_refused_before_the_handshake_completes(backends: Any) -> None:
    cfg = settings(backends, TICKCAST_WS_ALLOWED_ORIGINS="https://app.example")
    with TestClient(create_app(cfg)) as c:
        with pytest.raises(WebSocketDisconnect) as refused:
            c.websocket_connect("/ws", headers={"origin": "https://evil.example"}).__enter__()
        assert refused.value.code == 1008  # uvicorn turns this into HTTP 403


def test_too_many_connections_for_a_key(client: TestClient, db: Any) -> None:
    token = new_key(db, max_connections=1)
    with client.websocket_connect(f"/ws?token={token}") as first:
        assert first.receive_json()["type"] == "welcome"
        with client.websocket_connect(f"/ws?token={token}") as second:
            assert refusal(second) == ("too_many_connections", 4429)
    with client.websocket_connect(f"/ws?token={token}") as again:  # the slot was released
        assert again.receive_json()["type"] == "welcome"


def test_too_many_subscriptions_for_a_key(client: TestClient, db: Any) -> None:
    token = new_key(db, max_subscriptions=2)
    with client.websocket_connect(f"/ws?token={token}") as ws:
        ws.receive_json()
        ws.send_json({"type": "subscribe", "symbols": ["AAA", "BBB"]})
        assert ws.receive_json()["type"] == "subscribed"
        ws.send_json({"type": "subscribe", "channel": "bars", "symbol": "AAA"})
        frame = ws.receive_json()
        assert (frame["type"], frame["code"]) == ("error", "too_many_subscriptions")
        ws.send_json({"type": "unsubscribe", "symbol": "BBB"})
        assert ws.receive_json()["type"] == "unsubscribed"
        ws.send_json({"type": "subscribe", "channel": "bars", "symbol": "AAA"})
        assert ws.receive_json()["type"] == "subscribed"  # the connection survived


def test_a_client_over_its_message_rate_is_refused_then_cut_off(
    client: TestClient, db: Any
) -> None:
    token = new_key(db, messages_per_second=2)
    with client.websocket_connect(f"/ws?token={token}") as ws:
        ws.receive_json()
        for i in range(20):
            ws.send_json({"type": "ping", "id": i})
        kinds: list[str] = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                frame = ws.receive_json()
                kinds.append(frame.get("code") or frame["type"])
    assert "pong" in kinds and "rate_limited" in kinds and closed.value.code == 4429
    assert kinds.index("rate_limited") >= 2  # one second's allowance got through first


def test_the_auth_message_has_a_deadline(backends: Any) -> None:
    with TestClient(create_app(settings(backends, TICKCAST_WS_AUTH_DEADLINE_S="0.3"))) as c:
        with c.websocket_connect("/ws") as ws:  # says nothing
            frame = ws.receive_json()
            assert (frame["code"], "within 0.3 s" in frame["message"]) == ("unauthorized", True)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
        with c.websocket_connect("/ws") as ws:  # speaks, but not `auth`
            ws.send_json({"type": "subscribe", "symbol": "AAPL"})
            assert refusal(ws) == ("unauthorized", 4401)


def test_symbols_outside_the_entitlements_are_forbidden(
    client: TestClient, db: Any, symbol: str
) -> None:
    store.write(db, symbol, 1000, prediction_doc(symbol, 1000))
    token = new_key(db, [symbol])
    with client.websocket_connect(f"/ws?token={token}") as ws:
        ws.receive_json()
        ws.send_json({"type": "subscribe", "symbols": [symbol, "OTHER"]})
        frame = ws.receive_json()
        assert (frame["code"], frame["message"]) == ("forbidden", "not entitled to: OTHER")
        ws.send_json({"type": "request_prediction", "symbol": "OTHER"})
        assert ws.receive_json()["code"] == "forbidden"
        ws.send_json({"type": "subscribe", "symbol": symbol})
        assert ws.receive_json()["type"] == "subscribed"
    bearer = {"authorization": f"Bearer {token}"}
    assert client.get("/v1/symbols/OTHER", headers=bearer).status_code == 403
    assert client.get(f"/v1/symbols/{symbol}/predictions", headers=bearer).status_code == 200
    assert client.get(f"/v1/symbols/{symbol}/predictions").status_code == 401


def test_keys_cli_prints_the_token_once_and_stores_only_its_hash(
    backends: Any, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    keys_cli.register(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> str:
        args = parser.parse_args(["keys", *argv])
        assert args.func(args) == 0
        return capsys.readouterr().out

    token = run("create", "--name", "cli-test", "--symbols", "AAPL,MSFT", "--rate", "5").strip()
    key_id = apikeys.key_id_of(token)
    assert key_id is not None
    stored = db.collection("api_keys").document(key_id).get().to_dict()
    assert stored["hash"] == apikeys.token_hash(token) and token not in str(stored)
    assert (stored["symbols"], stored["limits"]["messages_per_second"]) == (["AAPL", "MSFT"], 5.0)
    listing = run("list", "--json")
    assert key_id in listing and token not in listing and stored["hash"] not in listing
    assert run("revoke", key_id) == f"revoked {key_id}\n"
    assert key_id not in run("list") and "revoked" in run("list", "--all")
    with pytest.raises(TickcastError, match="no API key"):
        run("revoke", "000000000000")
    with pytest.raises(TickcastError, match="--symbols"):
        run("create", "--name", "x", "--symbols", "not a symbol")
