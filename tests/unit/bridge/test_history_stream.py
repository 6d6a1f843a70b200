"""The history stream (issue 16, point 2): batches reach the hub in seq order, a
first batch publishes only the newest bar of a symbol the hub has never seen,
the range starts LOOKBACK_MS back and moves forward at each restart, and the
app wires it beside the symbols/ listener so a bar that never reaches
symbols/{SYM} (coalesced) still reaches a subscribed client, once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.testclient import TestClient

from tickcast.bridge import history_stream as hs
from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource, MemoryWatch
from tickcast.bridge.source import Change, OnBatch, Since
from tickcast.bridge.watchdog import Watchdog
from tickcast.config import Settings


class GroupMemory(MemorySource):
    """MemorySource with a collection group: `predictions` stands for every
    symbols/{SYM}/predictions (documents carry their symbol)."""

    def __init__(self) -> None:
        super().__init__()
        self.group_since: list[Since | None] = []

    def listen_group(
        self, parent: str, group: str, on_batch: OnBatch, since: Since | None = None
    ) -> MemoryWatch:
        assert (parent, group) == ("symbols", "predictions")
        self.group_since.append(since)
        return self.listen(group, on_batch, since)


def doc(symbol: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "interval_s": 1,
        "seq": seq,
        "bar": {"c": 1.0},
        "features": {},
        "ready": True,
        "reason": None,
        "prediction": None,
        "updated_at": seq,
        "trace": {"event": seq * 1_000_000},
        **extra,
    }


def ch(d: dict[str, Any]) -> Change:
    return (f"{d['seq']:015d}", d)


def test_ordered_drops_deletions_and_sorts_by_seq() -> None:
    batch = [ch(doc("A", 3000)), ("x", None), ch(doc("B", 1000)), ch(doc("A", 2000))]
    assert [d["seq"] for _, d in hs.ordered(batch) if d] == [1000, 2000, 3000]


def test_a_first_batch_keeps_every_bar_of_a_known_symbol_and_the_newest_of_a_new_one() -> None:
    batch = [ch(doc("NEW", s)) for s in (3000, 1000, 2000)]
    batch += [ch(doc("OLD", s)) for s in (2000, 1000)]
    kept = hs.first_sight(batch, {"OLD"})
    assert [(d["symbol"], d["seq"]) for _, d in kept if d] == [
        ("OLD", 1000),
        ("OLD", 2000),
        ("NEW", 3000),
    ]


def test_the_range_starts_lookback_back_and_moves_forward_at_each_restart() -> None:
    source = GroupMemory()
    now = {"ms": 1_000_000_000}
    got: list[int] = []

    async def scenario() -> list[str]:
        lst = hs.listener(
            source,
            lambda batch: got.extend(d["seq"] for _, d in batch if d),
            lambda: set(),
            asyncio.get_running_loop(),
            clock_ms=lambda: now["ms"],
        )
        lst.start()
        for _ in range(200):
            if lst.synced:
                break
            await asyncio.sleep(0.005)
        assert lst.max_age_s == hs.MAX_AGE_S and lst.restart_when_silent
        lst.started_at -= hs.MAX_AGE_S + 1  # as old as the range may get
        now["ms"] += 60_000
        restarted = await Watchdog([lst], interval_s=3600, silence_s=0).check()
        lst.stop()
        return restarted

    assert asyncio.run(scenario()) == [hs.NAME]
    source.close()
    assert source.group_since == [
        ("seq", 1_000_000_000 - hs.LOOKBACK_MS),
        ("seq", 1_000_060_000 - hs.LOOKBACK_MS),
    ]


def wait(cond: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_bar_only_in_history_reaches_the_client_once_in_the_client_projection() -> None:
    source = GroupMemory()
    now_ms = time.time_ns() // 1_000_000
    t0 = now_ms - now_ms % 1000 - 10_000
    first = doc("AAA", t0, shadow={"model_id": "challenger"}, expire_at=1)
    source.put(
        "symbols", "AAA", {k: v for k, v in first.items() if k not in ("shadow", "expire_at")}
    )
    source.put("predictions", "AAA-1", first)
    app = create_app(
        Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}), source=source
    )
    with TestClient(app) as client:
        wait(lambda: client.get("/readyz").status_code == 200, "listeners never synced")
        names = [x["collection"] for x in client.get("/readyz").json()["listeners"]]
        assert hs.NAME in names
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.send_json({"type": "subscribe", "channel": "predictions", "symbol": "AAA"})
            assert ws.receive_json()["type"] == "subscribed"
            assert (snap := ws.receive_json())["type"] == "snapshot" and snap["seq"] == t0
            # Two bars in history only (the latest write is coalesced), then the latest
            # catches up with the second: each bar once, in order, no history-only field.
            for k in (1, 2):
                source.put(
                    "predictions",
                    f"AAA-{k + 1}",
                    doc("AAA", t0 + 1000 * k, shadow={"model_id": "challenger"}, expire_at=1),
                )
            wait(lambda: app.state.hub.latest["AAA"]["seq"] == t0 + 2000, "bar 2 not published")
            source.put("symbols", "AAA", doc("AAA", t0 + 2000))
            time.sleep(0.1)
            ws.send_json({"type": "ping", "id": "p"})
            frames = []
            while (m := ws.receive_json())["type"] != "pong":
                frames.append(m)
    source.close()
    assert [(m["type"], m["seq"]) for m in frames] == [
        ("prediction", t0 + 1000),
        ("prediction", t0 + 2000),
    ]
    assert all(not {"shadow", "expire_at"} & set(m["data"]) for m in frames)
    assert set(frames[0]["data"]) == set(snap["data"])
    assert app.state.hub.filled == 0
