"""The bridge's tunables are settings (TICKCAST_WS_*): validated with bounds at
start-up, and each one changes what the bridge does when it is set."""

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
from tickcast.bridge import apikeys, jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE, Authenticator, AuthError, KeyRing
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.runtime import Bridge
from tickcast.config import Settings
from tickcast.errors import ConfigError

SECRET = "k" * 40
HANG_GUARD_S = 30.0
SETTLE_S = 0.3  # long enough for one more read to start, if the pool allowed one


def settings(**env: str) -> Settings:
    return Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true", **env})


def ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "listeners never synced"
        time.sleep(0.01)


@pytest.fixture
def source() -> Iterator[MemorySource]:
    s = MemorySource()
    for seq in range(1000, 101_000, 1000):  # 100 bars of AAPL history
        s.put("symbols", "AAPL", prediction_doc("AAPL", seq))
    yield s
    s.close()


# --- validation ---


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TICKCAST_WS_JWT_AUDIENCE": ""}, "TICKCAST_WS_JWT_AUDIENCE"),
        ({"TICKCAST_WS_JWT_DEFAULT_SYMBOLS": "AAPL,not a symbol"}, "TICKCAST_WS_JWT_DEFAULT"),
        ({"TICKCAST_WS_UNKNOWN_KEY_TTL_S": "0"}, "TICKCAST_WS_UNKNOWN_KEY_TTL_S"),
        ({"TICKCAST_WS_UNKNOWN_KEY_TTL_S": "86400"}, "TICKCAST_WS_UNKNOWN_KEY_TTL_S"),
        ({"TICKCAST_WS_UNKNOWN_KEY_MAX": "0"}, "TICKCAST_WS_UNKNOWN_KEY_MAX"),
        ({"TICKCAST_WS_KEY_RECHECK_S": "0.1"}, "TICKCAST_WS_KEY_RECHECK_S"),
        ({"TICKCAST_WS_ALERTS_WINDOW_S": "10"}, "TICKCAST_WS_ALERTS_WINDOW_S"),
        ({"TICKCAST_WS_ALERTS_WINDOW_S": "604800"}, "TICKCAST_WS_ALERTS_WINDOW_S"),
        ({"TICKCAST_WS_REPLAY_CONNECTION_BURST": "0"}, "TICKCAST_WS_REPLAY_CONNECTION_BURST"),
        ({"TICKCAST_WS_REPLAY_CONNECTION_RATE": "0"}, "TICKCAST_WS_REPLAY_CONNECTION_RATE"),
        ({"TICKCAST_WS_REPLAY_CREDENTIAL_RATE": "-1"}, "TICKCAST_WS_REPLAY_CREDENTIAL_RATE"),
        ({"TICKCAST_WS_REPLAY_WORKERS": "0"}, "TICKCAST_WS_REPLAY_WORKERS"),
        ({"TICKCAST_WS_REPLAY_WORKERS": "65"}, "TICKCAST_WS_REPLAY_WORKERS"),
        ({"TICKCAST_WS_LOOKUP_WORKERS": "0"}, "TICKCAST_WS_LOOKUP_WORKERS"),
        # across fields: a connection's budget is also its credential's; a connection's
        # pages in flight cannot exceed the pool they run on
        (
            {"TICKCAST_WS_REPLAY_CONNECTION_BURST": "200000"},
            "TICKCAST_WS_REPLAY_CREDENTIAL_BURST (100000) is smaller",
        ),
        (
            {"TICKCAST_WS_REPLAY_WORKERS": "1"},
            "TICKCAST_WS_REPLAY_READS_PER_CONNECTION (2) is more than",
        ),
    ],
)
def test_out_of_bounds_values_fail_at_start_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_the_defaults_are_the_documented_ones() -> None:
    cfg = Settings.from_env({})
    assert DEFAULT_JWT_AUDIENCE == cfg.ws_jwt_audience == "tickcast-ws"
    assert cfg.ws_jwt_default_symbols == ()
    assert (cfg.ws_unknown_key_ttl_s, cfg.ws_unknown_key_max) == (60.0, 10_000)
    assert (cfg.ws_key_recheck_s, cfg.ws_alerts_window_s) == (30.0, 900.0)
    assert (cfg.ws_replay_connection_burst, cfg.ws_replay_connection_rate) == (20_000, 200.0)
    assert (cfg.ws_replay_credential_burst, cfg.ws_replay_credential_rate) == (100_000, 1000.0)
    assert (cfg.ws_replay_workers, cfg.ws_replay_reads_per_connection) == (4, 2)
    assert cfg.ws_lookup_workers == 4
    # vendors' spellings are normalised like everywhere else; `*` is every symbol
    spelled = Settings.from_env({"TICKCAST_WS_JWT_DEFAULT_SYMBOLS": "aapl, BTC/USD"})
    assert spelled.ws_jwt_default_symbols == ("AAPL", "BTC-USD")
    star = Settings.from_env({"TICKCAST_WS_JWT_DEFAULT_SYMBOLS": "AAPL,*"})
    assert star.ws_jwt_default_symbols == ("*",)


# --- JWTs: audience and missing `symbols` ---


def jwt(**claims: Any) -> str:
    base = {"sub": "ann", "exp": time.time() + 600}
    return jwt_hs256.encode({**base, **claims}, SECRET.encode())


def authenticate(cfg: Settings, token: str) -> Any:
    source = MemorySource()
    try:
        return asyncio.run(Authenticator(cfg, source, KeyRing()).authenticate(token))
    finally:
        source.close()


def test_the_jwt_audience_is_the_setting() -> None:
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_JWT_AUDIENCE": "desk"})
    assert authenticate(cfg, jwt(aud="desk", symbols=["*"])).name == "ann"
    with pytest.raises(AuthError, match="aud"):
        authenticate(cfg, jwt(aud="tickcast-ws", symbols=["*"]))  # the default no longer
    with pytest.raises(AuthError, match="aud"):
        authenticate(cfg, jwt(symbols=["*"]))


@pytest.mark.parametrize(
    ("configured", "reads"),
    [(None, frozenset()), ("AAPL,btc/usd", frozenset({"AAPL", "BTC-USD"})), ("*", None)],
)
def test_a_jwt_without_symbols_reads_what_the_setting_says(
    configured: str | None, reads: frozenset[str] | None
) -> None:
    env = {"TICKCAST_WS_JWT_SECRET": SECRET}
    if configured is not None:
        env["TICKCAST_WS_JWT_DEFAULT_SYMBOLS"] = configured
    cfg = Settings.from_env(env)
    without = authenticate(cfg, jwt(aud=DEFAULT_JWT_AUDIENCE))
    assert without.symbols == reads
    # a token's own claim still wins
    assert authenticate(cfg, jwt(aud=DEFAULT_JWT_AUDIENCE, symbols=["MSFT"])).symbols == {"MSFT"}


# --- unknown API keys: how long and how many are remembered ---


class CountingSource(MemorySource):
    def __init__(self) -> None:
        super().__init__()
        self.key_reads: list[str] = []

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        self.key_reads.append(key_id)
        return super().api_key(key_id)


def attempt(auth: Authenticator, token: str) -> str:
    try:
        return asyncio.run(auth.authenticate(token)).kind
    except AuthError as exc:
        return exc.code


def test_unknown_keys_are_remembered_for_the_configured_time() -> None:
    source, now = CountingSource(), [0.0]
    cfg = Settings.from_env({"TICKCAST_WS_UNKNOWN_KEY_TTL_S": "5"})
    auth = Authenticator(cfg, source, KeyRing(), clock=lambda: now[0])
    key_id, token = apikeys.new_token()
    assert attempt(auth, token) == "unauthorized"
    now[0] = 4.9
    assert attempt(auth, token) == "unauthorized"
    assert source.key_reads == [key_id]  # remembered: no second read
    now[0] = 5.1  # with the default (60 s) it would still be remembered
    assert attempt(auth, token) == "unauthorized"
    assert source.key_reads == [key_id, key_id]
    source.close()


def test_at_most_the_configured_number_of_unknown_keys_are_remembered() -> None:
    source = CountingSource()
    auth = Authenticator(Settings.from_env({"TICKCAST_WS_UNKNOWN_KEY_MAX": "2"}), source, KeyRing())
    keys = [apikeys.new_token() for _ in range(3)]
    for _, token in keys:
        assert attempt(auth, token) == "unauthorized"
    assert attempt(auth, keys[2][1]) == "unauthorized"  # newest: still remembered
    assert attempt(auth, keys[0][1]) == "unauthorized"  # oldest: forgotten, read again
    assert source.key_reads == [keys[0][0], keys[1][0], keys[2][0], keys[0][0]]
    source.close()


# --- replay budgets ---


def replay(ws: Any, since: int) -> tuple[list[int], dict[str, Any] | None]:
    ws.send_json({"type": "subscribe", "symbol": "AAPL", "since": {"AAPL": since}})
    assert ws.receive_json()["type"] == "subscribed"
    seqs: list[int] = []
    while True:
        msg = ws.receive_json()
        if msg["type"] == "error":
            return seqs, msg
        seqs.append(msg["seq"])
        if msg["seq"] == 100_000:
            return seqs, None


def test_the_connection_replay_budget_is_the_setting(source: MemorySource) -> None:
    cfg = settings(
        TICKCAST_WS_REPLAY_CONNECTION_BURST="50", TICKCAST_WS_REPLAY_CONNECTION_RATE="0.001"
    )
    with TestClient(create_app(cfg, source=source)) as client:
        ready(client)
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            seqs, error = replay(ws, 0)
    assert len(seqs) == 50  # the default (20,000) would have replayed all 100
    assert error is not None and error["code"] == "replay_budget_exceeded"
    assert "50 per connection (+0.001/s)" in error["message"]


def test_the_credential_replay_budget_is_the_setting(source: MemorySource) -> None:
    cfg = settings(
        TICKCAST_WS_REPLAY_CONNECTION_BURST="30",
        TICKCAST_WS_REPLAY_CREDENTIAL_BURST="30",
        TICKCAST_WS_REPLAY_CREDENTIAL_RATE="0.001",
    )
    with TestClient(create_app(cfg, source=source)) as client:
        ready(client)
        page = client.get("/v1/symbols/AAPL/predictions", params={"after": 0, "limit": 100})
        assert len(page.json()) == 30
        again = client.get("/v1/symbols/AAPL/predictions", params={"after": 30_000})
        assert again.status_code == 429 and "30 per credential" in again.text


# --- the two thread pools ---


class StuckReplays(MemorySource):
    """Replay reads block until released; counts how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.in_flight = 0
        self.most = 0
        self._count = threading.Lock()

    def history(
        self, symbol: str, after: int, until: int | None, limit: int
    ) -> list[dict[str, Any]]:
        if until is None:
            with self._count:
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            self.gate.wait(HANG_GUARD_S)
            with self._count:
                self.in_flight -= 1
        return super().history(symbol, after, until, limit)


def settled_at(read: Any, expected: int) -> int:
    deadline = time.monotonic() + HANG_GUARD_S
    while read() < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(SETTLE_S)
    value: int = read()
    return value


@pytest.mark.parametrize(
    ("workers", "per_connection", "connections", "expected"),
    [
        ("3", "2", 2, 3),  # the pool is the bound (the default 4 would allow 4)
        ("4", "1", 2, 2),  # one page per connection
        ("2", "2", 1, 2),
    ],
)
def test_replay_reads_in_flight_follow_the_pool_and_per_connection_settings(
    workers: str, per_connection: str, connections: int, expected: int
) -> None:
    source = StuckReplays()
    symbols = [f"S{i:02d}" for i in range(10)]
    for sym in symbols:
        source.put("symbols", sym, prediction_doc(sym, 1000))
    cfg = settings(
        TICKCAST_WS_REPLAY_WORKERS=workers, TICKCAST_WS_REPLAY_READS_PER_CONNECTION=per_connection
    )
    sub = {"type": "subscribe", "symbols": symbols, "since": dict.fromkeys(symbols, 0)}
    try:
        with TestClient(create_app(cfg, source=source)) as client:
            ready(client)
            sockets = [client.websocket_connect("/ws").__enter__() for _ in range(connections)]
            for ws in sockets:
                ws.receive_json()
                ws.send_json(sub)
            in_flight = settled_at(lambda: source.in_flight, expected)
            source.gate.set()  # before asserting: stuck reads would hold the app's shutdown
            for ws in sockets:
                ws.__exit__(None, None, None)
    finally:
        source.gate.set()
        source.close()
    assert in_flight == source.most == expected


class StuckKeys(MemorySource):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.in_flight = 0
        self._count = threading.Lock()

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        with self._count:
            self.in_flight += 1
        self.gate.wait(HANG_GUARD_S)
        return super().api_key(key_id)


def test_key_reads_in_flight_follow_the_lookup_pool_setting() -> None:
    source = StuckKeys()
    bridge = Bridge.build(Settings.from_env({"TICKCAST_WS_LOOKUP_WORKERS": "2"}), source)
    tokens = [apikeys.new_token()[1] for _ in range(4)]

    async def scenario() -> int:
        tries = [asyncio.ensure_future(bridge.auth.authenticate(t)) for t in tokens]
        n = await asyncio.to_thread(settled_at, lambda: source.in_flight, 2)
        source.gate.set()
        await asyncio.gather(*tries, return_exceptions=True)
        return n

    try:
        assert asyncio.run(scenario()) == 2  # four keys, two threads (the default is 4)
    finally:
        source.gate.set()
        bridge.shutdown()
        source.close()


# --- revocation recheck and the alerts window ---


def test_the_key_recheck_interval_bounds_revocation_the_listener_never_saw() -> None:
    source = MemorySource()
    key_id, token = apikeys.new_token()
    # Straight into the store, and revoked the same way: the api_keys listener sees
    # neither, so only the recheck (every TICKCAST_WS_KEY_RECHECK_S) can close the socket.
    source.docs.setdefault("api_keys", {})[key_id] = {"hash": apikeys.token_hash(token)}
    cfg = Settings.from_env({"TICKCAST_WS_KEY_RECHECK_S": "1"})
    app = create_app(cfg, source=source)

    async def scenario(url: str) -> tuple[str, int, float]:
        async with websockets.connect(url) as ws:
            await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            source.docs["api_keys"][key_id]["revoked"] = True
            t0 = time.monotonic()
            code = orjson.loads(await asyncio.wait_for(ws.recv(), 10))["code"]
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code is not None
            return code, ws.close_code, time.monotonic() - t0

    try:
        with LoopbackServer(app, cfg) as server:
            code, close, took = asyncio.run(scenario(server.url))
    finally:
        source.close()
    assert (code, close) == ("revoked", 4401)
    assert took < 1 + 2  # the interval, plus the once-a-second loop and a read (default: 30 s)


def alert(created_at_ms: int) -> dict[str, Any]:
    return {"symbol": "AAPL", "seq": 1, "kind": "rsi_overbought", "created_at": created_at_ms}


@pytest.mark.parametrize(("window", "read"), [(None, 0), ("3600", 1)])
def test_the_alerts_window_is_the_setting(window: str | None, read: int) -> None:
    source = MemorySource()
    half_an_hour_ago = int((time.time() - 1800) * 1000)
    source.put("alerts", "AAPL-1-rsi_overbought", alert(half_an_hour_ago))
    env = {} if window is None else {"TICKCAST_WS_ALERTS_WINDOW_S": window}
    app = create_app(settings(**env), source=source)
    with TestClient(app) as client:
        ready(client)
        listeners = {lst["collection"]: lst for lst in client.get("/readyz").json()["listeners"]}
        assert app.state.bridge.alerts_window_s == float(window or 900)
    source.close()
    assert listeners["alerts"]["changes"] == read
