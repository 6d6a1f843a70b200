"""Replay cannot be abused (issue 14, point 6).

`since` replays and REST history pages spend a per-connection and a
per-credential budget of documents; replays read on their own bounded
executor, so hole filling and credential lookups never wait behind them; and
an unknown API key costs one Firestore read, not one per attempt.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from fastapi.testclient import TestClient

from tickcast.bench.loopback import LoopbackServer
from tickcast.bench.sample import prediction_doc
from tickcast.bridge import apikeys
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import Authenticator, AuthError, KeyRing
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.replay import ReplayBudgets, ReplayLimits
from tickcast.config import Settings

HANG_GUARD_S = 30.0
PROMPT_S = 5.0  # what "not starved" means here: answered long before the replays end


def settings(**env: str) -> Settings:
    return Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true", **env})


@pytest.fixture
def source() -> Iterator[MemorySource]:
    s = MemorySource()
    for seq in range(1000, 101_000, 1000):  # 100 bars of history
        s.put("symbols", "AAPL", prediction_doc("AAPL", seq))
    yield s
    s.close()


def started(source: MemorySource, limits: ReplayLimits) -> TestClient:
    app = create_app(settings(), source=source)
    app.state.bridge.replay = ReplayBudgets(limits)
    return TestClient(app)


def ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "listeners never synced"
        time.sleep(0.01)


def replay(ws: Any, since: int) -> tuple[list[int], dict[str, Any] | None]:
    """Subscribe with `since`; the replayed seqs, and the error that ended them early."""
    ws.send_json({"type": "subscribe", "symbol": "AAPL", "since": {"AAPL": since}})
    assert ws.receive_json()["type"] == "subscribed"
    seqs: list[int] = []
    while True:
        msg = ws.receive_json()
        if msg["type"] == "error":
            return seqs, msg
        assert msg["type"] == "prediction" and msg["replay"]
        seqs.append(msg["seq"])
        if msg["seq"] == 100_000:
            return seqs, None


def test_a_connection_s_replays_stop_at_its_budget_then_go_live(source: MemorySource) -> None:
    limits = ReplayLimits(connection_burst=50, connection_rate=0.001)
    with started(source, limits) as client, client.websocket_connect("/ws") as ws:
        ready(client)
        ws.receive_json()
        seqs, error = replay(ws, 0)
        assert seqs == list(range(1000, 51_000, 1000))
        assert error is not None and error["code"] == "replay_budget_exceeded"
        assert "50 per connection" in error["message"]
        source.put("symbols", "AAPL", prediction_doc("AAPL", 200_000))
        live = ws.receive_json()
        assert (live["type"], live["seq"], live.get("replay")) == ("prediction", 200_000, None)


def test_a_credential_s_budget_is_shared_by_its_connections_and_rest(
    source: MemorySource,
) -> None:
    limits = ReplayLimits(credential_burst=60, credential_rate=0.001)
    with started(source, limits) as client:
        ready(client)
        with client.websocket_connect("/ws") as first, client.websocket_connect("/ws") as second:
            first.receive_json()
            second.receive_json()
            seqs, error = replay(first, 0)
            assert len(seqs) == 60 and error is not None
            seqs, error = replay(second, 0)  # another connection, the same credential
            assert seqs == [] and error is not None
            assert error["code"] == "replay_budget_exceeded"
        page = client.get("/v1/symbols/AAPL/predictions", params={"after": 0})
        assert page.status_code == 429 and "replay_budget_exceeded" in page.text


def test_a_budget_is_spent_by_documents_read_not_by_pages_asked_for() -> None:
    # 40 symbols missed one bar each: 40 documents, well within a budget of 50, although
    # every replay asks for a page of up to 1000.
    source = MemorySource()
    symbols = [f"S{i:02d}" for i in range(40)]
    for sym in symbols:
        for seq in (1000, 2000):
            source.put("symbols", sym, prediction_doc(sym, seq))
    with started(source, ReplayLimits(connection_burst=50, connection_rate=0.001)) as client:
        ready(client)
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            since = dict.fromkeys(symbols, 1000)
            ws.send_json({"type": "subscribe", "symbols": symbols, "since": since})
            assert ws.receive_json()["type"] == "subscribed"
            frames = [ws.receive_json() for _ in range(40)]
    source.close()
    assert [f["type"] for f in frames] == ["prediction"] * 40
    assert sorted(f["symbol"] for f in frames) == symbols


def test_rest_history_spends_the_budget_and_a_short_page_is_still_a_page(
    source: MemorySource,
) -> None:
    limits = ReplayLimits(credential_burst=30, credential_rate=0.001)
    with started(source, limits) as client:
        ready(client)
        first = client.get("/v1/symbols/AAPL/predictions", params={"after": 0, "limit": 20})
        assert [d["seq"] for d in first.json()] == list(range(1000, 21_000, 1000))
        rest = client.get("/v1/symbols/AAPL/predictions", params={"after": 20_000, "limit": 20})
        assert len(rest.json()) == 10  # what was left of the budget; page on with `after`
        assert client.get("/v1/symbols/AAPL/predictions").status_code == 429


class StuckReplays(MemorySource):
    """Replay reads (history without `until`) block until released; hole fills do not."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.replay_reads = 0

    def history(
        self, symbol: str, after: int, until: int | None, limit: int
    ) -> list[dict[str, Any]]:
        if until is None:
            self.replay_reads += 1
            self.gate.wait(HANG_GUARD_S)
        return super().history(symbol, after, until, limit)


async def _consume(ws: Any) -> None:
    async for _ in ws:
        pass


def test_hole_fills_and_key_lookups_never_wait_behind_replays() -> None:
    source = StuckReplays()
    symbols = [f"S{i:02d}" for i in range(40)]
    for sym in [*symbols, "AAPL"]:
        source.put("symbols", sym, prediction_doc(sym, 1000))
    key_id, token = apikeys.new_token()
    # Straight into the store: the api_keys listener never sees it, so it is read once.
    source.docs.setdefault("api_keys", {})[key_id] = {"hash": apikeys.token_hash(token)}
    app = create_app(settings(), source=source)

    async def scenario(url: str) -> tuple[list[int], str]:
        async with websockets.connect(url) as replayer, websockets.connect(url) as watcher:
            await replayer.recv()
            await watcher.recv()
            sub = {"type": "subscribe", "symbols": symbols, "since": dict.fromkeys(symbols, 0)}
            await replayer.send(orjson.dumps(sub).decode())
            # Read what the replays send (a client that does not read cannot close quickly).
            reading = asyncio.create_task(_consume(replayer))
            deadline = time.monotonic() + HANG_GUARD_S
            while source.replay_reads < 2:  # replays are now stuck in Firestore
                assert time.monotonic() < deadline, "no replay started"
                await asyncio.sleep(0.01)
            await watcher.send(orjson.dumps({"type": "subscribe", "symbol": "AAPL"}).decode())
            # A hole: 2000 and 3000 only in history, then 4000 arrives on the listener.
            for seq in (2000, 3000):
                source.history_docs["AAPL"][seq] = prediction_doc("AAPL", seq)
            source.put("symbols", "AAPL", prediction_doc("AAPL", 4000))
            got: list[int] = []

            async def updates() -> None:
                while not got or got[-1] < 4000:
                    msg = orjson.loads(await watcher.recv())
                    if msg["type"] in ("snapshot", "prediction"):
                        got.append(msg["seq"])

            await asyncio.wait_for(updates(), PROMPT_S)

            async def key_login() -> str:
                async with websockets.connect(f"{url}?token={token}") as ws:
                    kind: str = orjson.loads(await ws.recv())["auth"]["kind"]
                    return kind

            kind = await asyncio.wait_for(key_login(), PROMPT_S)
            source.gate.set()  # the replays may finish now
            reading.cancel()
            return got, kind

    try:
        with LoopbackServer(app, app.state.bridge.cfg) as server:
            deadline = time.monotonic() + HANG_GUARD_S
            while not app.state.bridge.ready:
                assert time.monotonic() < deadline, "listeners never synced"
                time.sleep(0.01)
            got, kind = asyncio.run(scenario(server.url))
    finally:
        source.gate.set()
        source.close()
    assert got == [1000, 2000, 3000, 4000] and kind == "api_key"


class CountingSource(MemorySource):
    def __init__(self) -> None:
        super().__init__()
        self.key_reads = 0

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        self.key_reads += 1
        time.sleep(0.01)  # a real read takes a while: concurrent attempts overlap
        return super().api_key(key_id)


def test_an_unknown_api_key_is_read_once_however_often_it_is_tried() -> None:
    source = CountingSource()
    auth = Authenticator(Settings.from_env({}), source, KeyRing())
    _, token = apikeys.new_token()  # well formed, never stored

    async def attempts() -> list[str]:
        codes = []
        for _ in range(5):
            with pytest.raises(AuthError) as exc:
                await auth.authenticate(token)
            codes.append(exc.value.code)
        together = await asyncio.gather(
            *(auth.authenticate(token) for _ in range(20)), return_exceptions=True
        )
        codes += [e.code for e in together if isinstance(e, AuthError)]
        return codes

    codes = asyncio.run(attempts())
    source.close()
    assert codes == ["unauthorized"] * 25
    assert source.key_reads == 1


def test_an_unknown_key_is_forgotten_after_a_while_and_a_new_key_is_found_at_once() -> None:
    source = CountingSource()
    now = [0.0]
    ring = KeyRing()
    auth = Authenticator(Settings.from_env({}), source, ring, clock=lambda: now[0])
    key_id, token = apikeys.new_token()

    async def attempt() -> str:
        try:
            return (await auth.authenticate(token)).kind
        except AuthError as exc:
            return exc.code

    assert asyncio.run(attempt()) == "unauthorized"
    source.put("api_keys", key_id, {"hash": apikeys.token_hash(token)})  # created just now
    assert asyncio.run(attempt()) == "unauthorized"  # still remembered as unknown ...
    ring.on_batch([(key_id, source.docs["api_keys"][key_id])])
    assert asyncio.run(attempt()) == "api_key"  # ... until the listener brings it
    ring.records.clear()
    now[0] += 3600  # and not forever
    assert asyncio.run(attempt()) == "api_key"
    assert source.key_reads == 2
    source.close()
