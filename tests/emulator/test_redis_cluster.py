"""Ingest's claims and features' state through a real three-node Redis Cluster.

Redis Cluster refuses a script whose declared keys span hash slots (CROSSSLOT),
and redis-py's cluster client refuses to send one: every EVALSHA tickcast sends
must keep to one symbol's slot, with the global indexes written beside it.
Three `redis-server --cluster-enabled yes` on loopback in a temp dir, joined by
`redis-cli --cluster create`; stopped at the end, whatever happens."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tickcast import keys
from tickcast.config import Settings
from tickcast.schema import Tick, TicksMessage

NODES = 3
T0 = (time.time_ns() // 1_000_000_000 - 600) * 1_000_000_000


def _free_cluster_port() -> int:
    """A port P with P + 10000 (the node's cluster bus) free too."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _cluster_ok(port: int) -> bool:
    try:
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except subprocess.TimeoutExpired:
        return False
    return "cluster_state:ok" in out


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    from tickcast.local.processes import Proc, redis_ping

    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.skip("redis-server / redis-cli not installed")
    with tempfile.TemporaryDirectory(prefix="tickcast-cluster-") as tmp:
        procs: list[Proc] = []
        try:
            ports: list[int] = []
            for _ in range(NODES):
                port = _free_cluster_port()
                node_dir = Path(tmp) / str(port)
                node_dir.mkdir()
                argv = [server, "--port", str(port), "--bind", "127.0.0.1"]
                argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
                argv += ["--save", "", "--appendonly", "no", "--dir", str(node_dir)]
                proc = Proc(f"redis-{port}", argv, node_dir / "redis.log", cwd=node_dir)
                proc.start()
                procs.append(proc)
                ports.append(port)
                proc.wait_ready(lambda port=port: redis_ping(port), 20.0)  # type: ignore[misc]
            info = subprocess.run(
                [cli, "-p", str(ports[0]), "cluster", "info"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if "cluster support disabled" in (info.stdout + info.stderr).lower():
                pytest.skip("this redis-server was built without cluster support")
            nodes = [f"127.0.0.1:{p}" for p in ports]
            create = [
                cli,
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ]
            subprocess.run(create, check=True, capture_output=True, timeout=60)
            deadline = time.monotonic() + 30
            while not all(_cluster_ok(p) for p in ports):
                assert time.monotonic() < deadline, "the cluster never reached cluster_state:ok"
                time.sleep(0.2)
            yield f"redis+cluster://127.0.0.1:{ports[0]}"
        finally:
            for proc in procs:
                proc.stop()


@pytest.fixture
def client(cluster_url: str) -> Iterator[Any]:
    from tickcast import clients

    clients.redis_client.cache_clear()
    c = clients.redis_client(cluster_url)
    yield c
    clients.redis_client.cache_clear()
    c.close()


def _symbols_on_every_node(client: Any, prefix: str, interval_s: int = 1) -> list[str]:
    """Symbols whose keys land on each of the nodes (distinct slots), two per node."""
    by_node: dict[str, list[str]] = {}
    k = 0
    while len(by_node) < NODES or min(len(v) for v in by_node.values()) < 2:
        sym = f"{prefix}{k}"
        node = client.get_node_from_key(keys.state(sym, interval_s)).name
        by_node.setdefault(node, []).append(sym)
        k += 1
    return [s for v in by_node.values() for s in v[:2]]


def test_the_url_scheme_gives_a_cluster_client(client: Any) -> None:
    from redis.cluster import RedisCluster

    assert isinstance(client, RedisCluster)
    assert len(client.get_primaries()) == NODES  # type: ignore[no-untyped-call]


def test_per_symbol_keys_share_the_symbols_slot(client: Any) -> None:
    sym = "AAPL"
    slot = client.keyslot(keys.state(sym, 60))
    for key in (
        keys.batches(sym, 60),
        keys.outbox(sym, 60),
        keys.trades(sym, 60, 1_700_000_000_000),
        keys.seen(sym, 1_700_000_000),
    ):
        assert client.keyslot(key) == slot, key


def test_ingest_claims_across_nodes(client: Any) -> None:
    from tickcast.ingest.dedupe import Deduper, inflight

    symbols = _symbols_on_every_node(client, "CLM")
    assert len({client.keyslot(keys.seen(s, 1)) for s in symbols}) == len(symbols)
    d = Deduper(client, 60)
    ms = T0 // 1_000_000
    ids = [f"{s}-{n}" for s in symbols for n in range(3)]
    events = [(s, ms + n * 700) for s in symbols for n in range(3)]  # two event seconds each
    ids.append("quote")
    events.append((symbols[0], 0))
    assert d.claim(ids, "m1", events) == [True] * len(ids)
    assert d.claim(ids, "m1", events) == [True] * len(ids), "own claims: republish"
    assert d.claim(ids, "m2", events) == [False] * (len(ids) - 1) + [True], "a resend"
    got = inflight(client, symbols)
    assert {s: v[0] for s, v in got.items()} == {s: ms + 1400 for s in symbols}
    d.done("m1")
    assert d.claim(ids, "m1", events) is None
    # A failover empties the script cache: the scripts are loaded again on their own.
    client.script_flush()
    assert d.claim(["after-flush"], "m3", [(symbols[-1], ms)]) == [True]


def test_ingest_packed_claims_across_nodes(client: Any) -> None:
    """Enough ticks per (symbol, second) for the claim script's packed path (not its
    few-ticks one), symbols interleaved, each symbol's script sent to its own node."""
    from tickcast.ingest.dedupe import Deduper

    symbols = _symbols_on_every_node(client, "PKD")
    d = Deduper(client, 60)  # owners of its own: the cluster is not flushed between tests
    ms = T0 // 1_000_000
    ids = [f"{s}-{n}" for n in range(40) for s in symbols]
    events = [(s, ms + n * 50) for n in range(40) for s in symbols]  # two event seconds each
    assert d.claim(ids, "pk1", events) == [True] * len(ids)
    resend = ids[::2] + [f"new-{k}" for k in range(len(symbols) * 5)]
    resend_events = events[::2] + [(symbols[k % len(symbols)], ms) for k in range(len(symbols) * 5)]
    assert d.claim(resend, "pk2", resend_events) == [False] * len(ids[::2]) + [True] * (
        len(symbols) * 5
    )
    assert d.claim(resend, "pk1", resend_events) == [True] * len(ids[::2]) + [False] * (
        len(symbols) * 5
    )


def test_features_state_across_nodes(
    client: Any, cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """features' stage (state, batch ids, outbox, active index, watermark) and the
    clock, for symbols on every node of the cluster."""
    from tickcast.features import stage
    from tickcast.pubsub import PushedMessage

    published: list[bytes] = []
    monkeypatch.setattr(stage, "publish", lambda _s, _t, out: published.extend(m for m, *_ in out))
    stage._store.cache_clear()
    s = Settings.from_env(
        {
            "TICKCAST_REDIS_URL": cluster_url,
            "TICKCAST_BAR_SECONDS": "1",
            "TICKCAST_CLOCK_LAG_MS": "0",
        }
    )
    symbols = _symbols_on_every_node(client, "FTR")

    def ticks(symbol: str, batch: str, at_ms: int, ref: str) -> TicksMessage:
        t = Tick(ts=T0 + at_ms * 1_000_000, price=10.0 + at_ms / 1000, size=1, id=ref, ref=ref)
        return TicksMessage(symbol=symbol, batch=batch, ticks=(t,))

    def cancel(symbol: str, batch: str, at_ms: int, ref: str) -> TicksMessage:
        t = Tick(
            ts=T0 + at_ms * 1_000_000, price=10.0, size=0, kind="cancel", id="x" + ref, ref=ref
        )
        return TicksMessage(symbol=symbol, batch=batch, ticks=(t,))

    try:
        for sym in symbols:
            assert stage.apply_ticks(s, ticks(sym, "a", 100, "1")) == []
            first = stage.apply_ticks(s, ticks(sym, "b", 2_000, "2"))  # closes the first bar
            assert len(first) == 1
            assert stage.apply_ticks(s, ticks(sym, "b", 2_000, "2")) == first, "redelivery"
            assert client.exists(keys.state(sym, 1), keys.batches(sym, 1), keys.outbox(sym, 1))
            # The open bar's trade index (its own keys, in the symbol's slot) and a
            # cancel refolding the bar from it.
            assert client.hlen(keys.trades(sym, 1, T0 // 1_000_000 + 2_000)) == 1
            rejected: list[Any] = []
            assert stage.apply_ticks(s, cancel(sym, "c", 2_100, "2"), rejected) == []
            assert rejected == []
        store = stage._store(s.redis_url, s.state_ttl_s)
        event_ms, arrival_ms = store.progress(1)
        assert event_ms == T0 // 1_000_000 + 2_100 and arrival_ms > 0
        assert set(symbols) <= set(store.active_symbols(1, 0))
        # The clock closes each symbol's open bar, reading the indexes and the
        # in-flight hash and committing through the same per-symbol script.
        body = f'{{"now_ns": {T0 + 9_000_000_000}}}'.encode()
        closed = stage.on_clock(PushedMessage(body, {"kind": "clock"}, "clock-1"), s)
        assert closed >= len(symbols) and len(published) == closed
    finally:
        stage._store.cache_clear()
