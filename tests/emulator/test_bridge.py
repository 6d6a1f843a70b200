"""The bridge against the real Firestore emulator: snapshot on subscribe, resume
with `since` (history in order, then live, no gap, no duplicate), error frames
that leave the connection open, and refusal without credentials."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tickcast import clients
from tickcast.bridge.app import create_app
from tickcast.config import Settings
from tickcast.predict import store

pytestmark = pytest.mark.emulator


def doc(symbol: str, seq: int) -> dict[str, Any]:
    bar = {
        "t": seq - 1000,
        "o": 1.0,
        "h": 1.0,
        "l": 1.0,
        "c": 1.0 + seq % 7,
        "v": 1.0,
        "vwap": 1.0,
        "n": 1,
    }
    pred = {
        "model_id": "baseline",
        "model_version": "1",
        "horizon_bars": 1,
        "p_up": 0.6,
        "direction": "up",
        "confidence": 0.6,
        "expected_return": 0.001,
        "factors": [],
    }
    return {
        "symbol": symbol,
        "interval_s": 1,
        "seq": seq,
        "bar": bar,
        "features": {},
        "ready": True,
        "reason": None,
        "prediction": pred,
        "updated_at": seq,
        "trace": {"event": time.time_ns()},
    }


def settings(backends: Any, **over: str) -> Settings:
    return Settings.from_env({**backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true", **over})


def wait_synced(client: TestClient, symbol: str) -> None:
    """Until the document is served and every listener (symbols, alerts, api_keys)
    has its first snapshot: late in a session the alerts collection is large."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if client.get(f"/v1/symbols/{symbol}").status_code == 200:
            while time.monotonic() < deadline and client.get("/readyz").status_code != 200:
                time.sleep(0.05)
            return
        time.sleep(0.05)
    raise AssertionError("listener never delivered the document")


def test_resume_replays_history_in_order_then_goes_live(backends, symbol: str) -> None:
    db = clients.firestore_client(backends.project)
    for seq in range(1000, 6000, 1000):
        store.write(db, symbol, seq, doc(symbol, seq))
    with TestClient(create_app(settings(backends), db)) as client:
        wait_synced(client, symbol)
        assert client.get("/readyz").status_code == 200
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json()["type"] == "welcome"
            ws.send_json(
                {
                    "type": "subscribe",
                    "channel": "predictions",
                    "symbol": symbol,
                    "since": {symbol: 2000},
                }
            )
            assert ws.receive_json() == {
                "type": "subscribed",
                "channel": "predictions",
                "symbols": [symbol],
            }
            replayed = [ws.receive_json() for _ in range(3)]
            assert [m["seq"] for m in replayed] == [3000, 4000, 5000]
            assert all(m["type"] == "prediction" and m["replay"] for m in replayed)
            store.write(db, symbol, 6000, doc(symbol, 6000))
            live = ws.receive_json()
            assert (live["type"], live["seq"], live.get("replay")) == ("prediction", 6000, None)
            assert live["data"]["trace"]["bridge"] >= live["data"]["trace"]["event"]


def test_subscribe_gets_a_snapshot_and_request_prediction_answers(backends, symbol: str) -> None:
    db = clients.firestore_client(backends.project)
    store.write(db, symbol, 7000, doc(symbol, 7000))
    with TestClient(create_app(settings(backends), db)) as client:
        wait_synced(client, symbol)
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.send_json({"type": "subscribe", "channel": "predictions", "symbol": symbol})
            assert ws.receive_json()["type"] == "subscribed"
            snap = ws.receive_json()
            assert (snap["type"], snap["seq"], snap["data"]["prediction"]["direction"]) == (
                "snapshot",
                7000,
                "up",
            )
            ws.send_json(
                {
                    "type": "request_prediction",
                    "symbol": symbol,
                    "options": {"horizon": "1d", "confidence": 0.95, "model": "ensemble"},
                }
            )
            ans = ws.receive_json()
            assert ans["type"] == "prediction_response" and ans["seq"] == 7000
            assert ans["meets_confidence"] is False and ans["server_latency_us"] >= 0
            # 1 s bars of the baseline: none of the contract's options is served here,
            # and each says so (test_bridge_request_options.py has the served cases)
            assert {k: (v["requested"], v["status"]) for k, v in ans["options"].items()} == {
                "horizon": ("1d", "not_served"),
                "confidence": (0.95, "not_served"),
                "model": ("ensemble", "not_served"),
            }
            assert any("ensemble" in n for n in ans["notes"]) and any(
                "1d" in n for n in ans["notes"]
            )


def test_bad_client_messages_get_error_frames_and_the_connection_survives(backends) -> None:
    app = create_app(settings(backends, TICKCAST_WS_MAX_FRAME_BYTES="200"))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.receive_json()
        for raw, code in (
            ("{oops", "invalid_json"),
            ('{"type":"dance"}', "unknown_type"),
            ('{"type":"subscribe","symbol":"no way"}', "invalid_message"),
            ('{"type":"ping","id":"' + "x" * 300 + '"}', "frame_too_large"),
            ('{"type":"request_prediction","symbol":"NODATA"}', "not_found"),
        ):
            ws.send_text(raw)
            frame = ws.receive_json()
            assert (frame["type"], frame["code"]) == ("error", code) and frame["message"]
        ws.send_json({"type": "ping", "id": 7})
        assert ws.receive_json()["type"] == "pong"


def test_without_the_local_flag_clients_are_refused(backends) -> None:
    # A silent client is refused once the auth deadline passes (a short one here).
    app = create_app(Settings.from_env({**backends.env, "TICKCAST_WS_AUTH_DEADLINE_S": "0.5"}))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        frame = ws.receive_json()
        assert (frame["type"], frame["code"]) == ("error", "unauthorized")
        with pytest.raises(Exception) as closed:
            ws.receive_json()
        assert getattr(closed.value, "code", None) == 4401
