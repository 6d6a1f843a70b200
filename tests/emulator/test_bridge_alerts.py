"""The bridge's alerts listener reads recent alerts only (issue 14, point 7).

Alerts are written by the real writer (predict's store, `commit_alert`, which
stamps `created_at`), some two days old and one just now, into the Firestore
emulator, where every earlier test's alerts are too. A bridge that starts
then is handed only the recent ones, and alerts written afterwards still
stream to subscribers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tickcast import clients
from tickcast.bridge.app import create_app
from tickcast.config import Settings
from tickcast.predict.alerts import Alert
from tickcast.predict.store import ALERTS, PredictStore

pytestmark = pytest.mark.emulator

HANG_GUARD_S = 30.0
DAY_MS = 86_400_000


def test_a_cold_start_reads_only_recent_alerts_and_new_ones_stream(
    backends: Any, symbol: str
) -> None:
    db = clients.firestore_client(backends.project)
    store = PredictStore(db)
    now_ms = int(time.time() * 1000)

    def write(seq: int, kind: str, at_ms: int) -> str:
        alert = Alert(symbol, seq, kind, f"{kind} at {seq}", 75.0, 70.0)
        assert store.commit_alert(alert, cooldown_ms=0, now_ms=at_ms)
        return alert.doc_id

    old = [write(now_ms - 2 * DAY_MS + k, "rsi_overbought", now_ms - 2 * DAY_MS) for k in range(3)]
    recent = write(now_ms - 5000, "high_confidence", now_ms - 4000)
    in_store = sum(1 for _ in db.collection(ALERTS).select([]).stream())

    app = create_app(
        Settings.from_env({**backends.env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}), db
    )
    hub = app.state.hub
    delivered: list[str] = []
    real = hub.on_alert

    def recording(doc_id: str, doc: dict[str, Any]) -> None:
        delivered.append(doc_id)
        real(doc_id, doc)

    hub.on_alert = recording
    with TestClient(app) as client:
        deadline = time.monotonic() + HANG_GUARD_S
        while client.get("/readyz").status_code != 200 or recent not in delivered:
            assert time.monotonic() < deadline, "the recent alert never arrived"
            time.sleep(0.05)
        assert not set(old) & set(delivered), "a cold start read alerts days old"
        assert len(delivered) < in_store
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.send_json({"type": "subscribe", "channel": "alerts", "symbol": symbol})
            assert ws.receive_json()["type"] == "subscribed"
            fresh = write(now_ms, "rsi_overbought", int(time.time() * 1000))
            frame = ws.receive_json()
            assert (frame["type"], frame["id"], frame["symbol"]) == ("alert", fresh, symbol)
