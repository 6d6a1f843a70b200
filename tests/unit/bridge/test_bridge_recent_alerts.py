"""`GET /v1/alerts`: a page that opens shows the latest alerts of its symbols at
once (issue 19, point 3), from what the bridge's alerts listener already holds:
newest first, within the alerts window, only symbols the caller may read, in the
shape of the live `alert` frame, and bounded in memory."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tickcast.bridge import jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.recent_alerts import RecentAlerts
from tickcast.config import Settings

SECRET = "a" * 40
AUDIENCE = "tickcast-test"


def alert(
    symbol: str, seq: int, created_at_ms: int, kind: str = "rsi_overbought"
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "seq": seq,
        "kind": kind,
        "created_at": created_at_ms,
        "value": 71.5,
        "expire_at": "storage's TTL field",
    }


def wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "listeners never synced"
        time.sleep(0.01)


def test_the_latest_alerts_newest_first_only_readable_symbols_in_the_window() -> None:
    source = MemorySource()
    now = int(time.time() * 1000)
    source.put("alerts", "OLD-1-rsi_overbought", alert("AAPL", 1, now - 3 * 86_400_000))
    source.put("alerts", "AAPL-2-rsi_overbought", alert("AAPL", 2, now - 2000))
    source.put("alerts", "AAPL-3-high_confidence", alert("AAPL", 3, now - 1000, "high_confidence"))
    source.put("alerts", "MSFT-3-rsi_overbought", alert("MSFT", 3, now - 1500))
    env = {"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_JWT_AUDIENCE": AUDIENCE}
    app = create_app(Settings.from_env(env), source=source)
    token = jwt_hs256.encode(
        {"sub": "ann", "exp": time.time() + 600, "aud": AUDIENCE, "symbols": ["AAPL"]},
        SECRET.encode(),
    )
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        wait_ready(client)
        assert client.get("/v1/alerts").status_code == 401  # no credential, no alerts
        got = client.get("/v1/alerts", headers=auth).json()
        assert [a["id"] for a in got] == ["AAPL-3-high_confidence", "AAPL-2-rsi_overbought"]
        assert got[0] == {
            "type": "alert",
            "channel": "alerts",
            "symbol": "AAPL",
            "seq": 3,
            "id": "AAPL-3-high_confidence",
            "data": {
                k: v
                for k, v in alert("AAPL", 3, now - 1000, "high_confidence").items()
                if k != "expire_at"
            },
        }
        assert client.get("/v1/alerts?limit=1", headers=auth).json()[0]["seq"] == 3
        assert client.get("/v1/alerts?symbols=aapl", headers=auth).json() == got
        assert client.get("/v1/alerts?symbols=MSFT", headers=auth).status_code == 403
        assert client.get("/v1/alerts?symbols=%24%24", headers=auth).status_code == 422
        # A new alert is there as soon as the listener delivered it.
        source.put("alerts", "AAPL-4-rsi_oversold", alert("AAPL", 4, int(time.time() * 1000)))
        deadline = time.monotonic() + 5
        while client.get("/v1/alerts?limit=1", headers=auth).json()[0]["seq"] != 4:
            assert time.monotonic() < deadline, "the new alert never reached /v1/alerts"
            time.sleep(0.02)
    source.close()


def test_memory_is_bounded_and_a_redelivered_alert_is_held_once() -> None:
    recent = RecentAlerts(window_s=3600, capacity=3)
    now = time.time()
    for i in range(5):
        recent.add(f"A-{i}-k", alert("A", i, int(now * 1000) + i))
    recent.add("A-4-k", alert("A", 4, int(now * 1000) + 4))  # a listener restart redelivers
    assert len(recent) == 3
    assert [a["seq"] for a in recent.latest(lambda s: True, now_s=now)] == [4, 3, 2]
    # Out of the window once time moves past it.
    assert recent.latest(lambda s: True, now_s=now + 3601) == []
