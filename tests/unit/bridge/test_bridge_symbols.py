"""Crypto and FX symbols on the bridge: vendor aliases (`BTC/USD`, `X:BTCUSD`,
`C:EURUSD`, lower case) are normalised by `tickcast.schema.normalise_symbol`
before validation, on subscribe, `since`, `request_prediction`, unsubscribe
and REST; every answer names the normalised symbol."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tickcast.bench.sample import prediction_doc
from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource
from tickcast.config import Settings


@pytest.fixture
def client() -> Iterator[TestClient]:
    source = MemorySource()
    for sym in ("BTC-USD", "EUR-USD"):
        for seq in (1000, 2000, 3000):
            source.put("symbols", sym, prediction_doc(sym, seq))
    app = create_app(
        Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}), source=source
    )
    with TestClient(app) as c:
        deadline = time.monotonic() + 10
        while c.get("/readyz").status_code != 200 or c.get("/v1/symbols").json() == []:
            assert time.monotonic() < deadline, "listeners never synced"
            time.sleep(0.01)
        yield c
    source.close()


def test_subscribe_accepts_vendor_aliases_and_answers_with_the_normalised_symbol(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        ws.send_json({"type": "subscribe", "symbols": ["BTC/USD", "C:EURUSD"]})
        assert ws.receive_json() == {
            "type": "subscribed",
            "channel": "predictions",
            "symbols": ["BTC-USD", "EUR-USD"],
        }
        snaps = {ws.receive_json()["symbol"] for _ in range(2)}
        assert snaps == {"BTC-USD", "EUR-USD"}
        ws.send_json({"type": "request_prediction", "symbol": "X:BTCUSD"})
        answer = ws.receive_json()
        assert (answer["type"], answer["symbol"], answer["seq"]) == (
            "prediction_response",
            "BTC-USD",
            3000,
        )
        ws.send_json({"type": "unsubscribe", "symbol": "btc/usd"})
        assert ws.receive_json()["symbols"] == ["BTC-USD"]


def test_since_keys_are_normalised_too(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        ws.send_json({"type": "subscribe", "symbol": "X:BTCUSD", "since": {"BTC/USD": 1000}})
        assert ws.receive_json()["symbols"] == ["BTC-USD"]
        replayed = [ws.receive_json() for _ in range(2)]
        assert [(m["symbol"], m["seq"], m["replay"]) for m in replayed] == [
            ("BTC-USD", 2000, True),
            ("BTC-USD", 3000, True),
        ]


@pytest.mark.parametrize("alias", ["BTC-USD", "btc-usd", "X:BTCUSD", "BTC/USD", "BTC%2FUSD"])
def test_rest_accepts_the_aliases(client: TestClient, alias: str) -> None:
    latest = client.get(f"/v1/symbols/{alias}")
    assert latest.status_code == 200 and latest.json()["symbol"] == "BTC-USD"
    history = client.get(f"/v1/symbols/{alias}/predictions", params={"after": 1000})
    assert history.status_code == 200
    assert [d["seq"] for d in history.json()] == [2000, 3000]


def test_rest_still_refuses_what_is_not_a_symbol(client: TestClient) -> None:
    assert client.get("/v1/symbols/no%20way").status_code == 422
    assert client.get("/v1/symbols/NODATA").status_code == 404
