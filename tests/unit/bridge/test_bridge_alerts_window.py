"""The bridge listens only to recent alerts (issue 14, point 7): a cold start
reads the alerts of the last window, not every alert ever written, and the
window moves forward (the watchdog restarts the listener once it is a window
old) so a long-lived instance does not accumulate them either."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.testclient import TestClient

from tickcast.bridge.app import create_app
from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.watchdog import Watchdog
from tickcast.config import Settings


def alert(symbol: str, seq: int, created_at_ms: int) -> dict[str, Any]:
    return {"symbol": symbol, "seq": seq, "kind": "rsi_overbought", "created_at": created_at_ms}


def test_a_cold_start_reads_only_the_recent_alerts() -> None:
    source = MemorySource()
    now_ms = int(time.time() * 1000)
    for i in range(500):  # a year of old alerts
        source.put("alerts", f"OLD-{i}-rsi_overbought", alert("OLD", i, now_ms - 86_400_000 * 2))
    source.put("alerts", "NEW-1-rsi_overbought", alert("NEW", 1, now_ms - 1000))
    app = create_app(
        Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}), source=source
    )
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "listeners never synced"
            time.sleep(0.01)
        listeners = {lst["collection"]: lst for lst in client.get("/readyz").json()["listeners"]}
        assert listeners["alerts"]["changes"] == 1
        with client.websocket_connect("/ws") as ws:  # and new alerts still stream
            ws.receive_json()
            ws.send_json({"type": "subscribe", "channel": "alerts", "symbol": "NEW"})
            assert ws.receive_json()["type"] == "subscribed"
            source.put("alerts", "NEW-2-rsi_overbought", alert("NEW", 2, int(time.time() * 1000)))
            frame = ws.receive_json()
            assert (frame["type"], frame["id"]) == ("alert", "NEW-2-rsi_overbought")
    source.close()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_window_moves_forward_when_the_listener_is_a_window_old() -> None:
    source = MemorySource()
    clock = Clock()
    bounds: list[int] = []

    def since() -> tuple[str, Any]:
        bounds.append(int(clock.t * 1000) - 60_000)
        return ("created_at", bounds[-1])

    async def scenario() -> tuple[list[str], list[str]]:
        lst = CollectionListener(
            source,
            "alerts",
            lambda b: None,
            asyncio.get_running_loop(),
            since=since,
            max_age_s=60,
            clock=clock,
        )
        lst.start()
        dog = Watchdog([lst], interval_s=3600, silence_s=0)
        clock.t += 30
        young = await dog.check()
        clock.t += 31
        old = await dog.check()
        return young, old

    young, old = asyncio.run(scenario())
    source.close()
    assert young == [] and old == ["alerts"]
    assert bounds == [940_000, 1_001_000]  # restarted with the bound a window later
