"""Loopback load benchmark of the bridge: N WebSocket clients on 127.0.0.1.

    python -m tickcast.bench.bridge                       # 10,000 connections
    python -m tickcast.bench.bridge --connections 200 --rounds 5 --json

It starts the real app under uvicorn (serve.py's settings) in a child process
fed from memory instead of Firestore, opens N connections from this single
asyncio process (raising the open-files soft limit as far as the hard limit
allows), authenticates each with an HS256 JWT and subscribes it to one of
--symbols symbols, then publishes --rounds updates per symbol through the
listener hand-off. It reports connect time, fan-out latency (hub -> client
receive, so it includes this one client process's own receive backlog: an
upper bound), server RSS, and how long a SIGTERM drain takes to close every
client with 1012. It binds and connects to 127.0.0.1 only and stops by
itself (--timeout).

Then, in the same run, the yardstick (--compare, on by default): the same N
idle connections to a bare `websockets` server (bare.py) for memory per
connection, and one update at a time to --fanout-clients clients subscribed to
one symbol, alternating between a fresh bridge and the bare broadcast server,
for fan-out p99 side by side. PASS/MISS lines compare against the targets:
at most TARGET_KIB per idle authenticated connection, fan-out p99 at most
TARGET_P99_RATIO times the bare server's. --memory-sites K prints the top K
tracemalloc sites of the bridge's idle connections (memsites.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from tickcast.bench import bridge_fanout as fanout
from tickcast.bench.bridge_bare import CONTROL
from tickcast.bench.sample import prediction_doc
from tickcast.bridge import jwt_hs256
from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE

HOST = "127.0.0.1"  # loopback only, by construction
FD_HEADROOM = 512
TARGET_KIB = 20.0  # issue #16: per idle authenticated connection, above the idle process
TARGET_P99_RATIO = 2.0  # issue #16: fan-out p99 against the bare websockets server's
TRACEMALLOC_ENV = "TICKCAST_BENCH_TRACEMALLOC"


@dataclass
class Result:
    connections: int
    symbols: int
    rounds: int
    connect_s: float = 0.0
    handshake_ms_p50: float = 0.0
    handshake_ms_p99: float = 0.0
    delivered: int = 0
    expected: int = 0
    fanout_ms_p50: float = 0.0
    fanout_ms_p99: float = 0.0
    fanout_ms_max: float = 0.0
    publish_to_client_ms_p50: float = 0.0
    publish_to_client_ms_p99: float = 0.0
    server_rss_idle_mib: float = 0.0
    server_rss_connected_mib: float = 0.0
    server_rss_peak_mib: float = 0.0
    client_rss_peak_mib: float = 0.0
    server_cpu_connect_s: float = 0.0
    server_cpu_fanout_s: float = 0.0
    client_cpu_s: float = 0.0
    drain_s: float = 0.0
    closed_1012: int = 0
    told_1012: int = 0  # the close frame arrived (the connection may still be open)
    told_s: float = 0.0
    # the yardstick (--compare)
    server_kib_per_idle_connection: float = 0.0
    bare_rss_idle_mib: float = 0.0
    bare_rss_connected_mib: float = 0.0
    bare_kib_per_idle_connection: float = 0.0
    fanout_clients: int = 0
    fanout_updates: int = 0
    fanout_delivered: int = 0
    bare_fanout_delivered: int = 0
    fanout_one_ms_p50: float = 0.0
    fanout_one_ms_p99: float = 0.0
    bare_fanout_ms_p50: float = 0.0
    bare_fanout_ms_p99: float = 0.0
    memory_sites: str = ""
    notes: list[str] = field(default_factory=list)


def raise_open_files(wanted: int) -> int:
    """The soft RLIMIT_NOFILE up to `wanted` (the hard limit caps it); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mib(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


# --- the server process ---
def serve(port: int) -> None:
    import uvicorn

    from tickcast.bridge.app import create_app
    from tickcast.bridge.memory import MemorySource
    from tickcast.bridge.serve import uvicorn_config
    from tickcast.config import Settings

    cfg = Settings.from_env(os.environ)
    source = MemorySource()
    app = create_app(cfg, source=source)
    if os.environ.get(TRACEMALLOC_ENV):
        _memory_routes(app)

    async def publish(docs: list[dict[str, Any]]) -> dict[str, int]:
        # The same path as Firestore: a store thread, then call_soon_threadsafe.
        for doc in docs:
            source.put("symbols", doc["symbol"], doc)
        return {"published": len(docs)}

    app.add_api_route("/bench/publish", publish, methods=["POST"], include_in_schema=False)
    uvicorn.Server(uvicorn_config(app, cfg, HOST, port, log_level="warning")).run()


def _memory_routes(app: Any) -> None:
    from tickcast.bench import bridge_memsites as memsites

    async def start() -> dict[str, int]:
        memsites.start()
        return {"tracing": 1}

    async def sites(connections: int, top: int = 20) -> dict[str, str]:
        found, owners = memsites.sites(connections, top)
        return {"report": memsites.report(connections, found, owners)}

    app.add_api_route("/bench/tracemalloc/start", start, methods=["POST"])
    app.add_api_route("/bench/tracemalloc/sites", sites, methods=["GET"])


# --- the client side ---
def _http(url: str, body: bytes | None = None, timeout: float = 30.0) -> int:
    return _http_body(url, body, timeout)[0]


def _http_body(url: str, body: bytes | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status: int = r.status
            return status, r.read()
    except OSError:
        return 0, b""


class TimedConnection(ClientConnection):
    """Notes when the server's close frame arrived (`told_at`). websockets gives
    the close code only once the TCP connection is gone, which the server ends
    when it reads the client's reply: a drain that stalls after sending its close
    frames would otherwise look like one that never sent them."""

    told_at: float | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.told_at is None and self.protocol.close_rcvd is not None:
            self.told_at = time.monotonic()


class Client:
    def __init__(self, index: int, symbol: str) -> None:
        self.index = index
        self.symbol = symbol
        self.ws: Any = None
        self.got = 0
        self.close_code: int | None = None
        self.closed_at = 0.0


class Run:
    """The client side: N connections, their receive tasks and what they measured."""

    def __init__(self, args: argparse.Namespace, port: int, token: str, res: Result) -> None:
        self.args, self.res = args, res
        self.base = f"http://{HOST}:{port}"
        self.url = f"ws://{HOST}:{port}/ws?token={token}"
        self.symbols = [f"B{i:04d}" for i in range(args.symbols)]
        self.clients = [
            Client(i, self.symbols[i % len(self.symbols)]) for i in range(args.connections)
        ]
        self.receivers: list[asyncio.Task[None]] = []
        self.fanout: list[float] = []
        self.e2e: list[float] = []
        self.finished = 0
        self.all_in = asyncio.Event()

    async def connect(self) -> None:
        gate = asyncio.Semaphore(self.args.concurrency)
        handshakes: list[float] = []

        async def open_one(c: Client) -> None:
            async with gate:
                t = time.perf_counter()
                c.ws = await websockets.connect(
                    self.url,
                    compression=None,
                    ping_interval=None,
                    max_size=2**20,
                    open_timeout=120,
                    create_connection=TimedConnection,
                )
                await c.ws.recv()  # welcome
                await c.ws.send(orjson.dumps({"type": "subscribe", "symbol": c.symbol}).decode())
                await c.ws.recv()  # subscribed
                handshakes.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(open_one(c) for c in self.clients))
        self.res.connect_s = time.perf_counter() - t0
        self.res.handshake_ms_p50 = pct(handshakes, 0.5)
        self.res.handshake_ms_p99 = pct(handshakes, 0.99)
        self.receivers = [asyncio.create_task(self._receive(c)) for c in self.clients]

    async def _receive(self, c: Client) -> None:
        try:
            async for raw in c.ws:
                now = time.time_ns()
                msg = orjson.loads(raw)
                if msg.get("type") != "prediction":
                    continue
                trace = msg["data"]["trace"]
                self.fanout.append((now - trace["bridge"]) / 1e6)
                self.e2e.append((now - trace["event"]) / 1e6)
                c.got += 1
                if c.got == self.args.rounds:
                    self.finished += 1
                    if self.finished == len(self.clients):
                        self.all_in.set()
        except websockets.ConnectionClosed:
            pass
        c.close_code = c.ws.close_code
        c.closed_at = time.monotonic()

    async def publish(self) -> None:
        for r in range(1, self.args.rounds + 1):
            docs = [prediction_doc(s, r * 1000) for s in self.symbols]
            await asyncio.to_thread(_http, f"{self.base}/bench/publish", orjson.dumps(docs))
            await asyncio.sleep(self.args.interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_in.wait(), timeout=self.args.settle)
        res = self.res
        res.delivered = sum(c.got for c in self.clients)
        res.expected = self.args.rounds * len(self.clients)
        res.fanout_ms_p50, res.fanout_ms_p99 = pct(self.fanout, 0.5), pct(self.fanout, 0.99)
        res.fanout_ms_max = max(self.fanout, default=0.0)
        res.publish_to_client_ms_p50 = pct(self.e2e, 0.5)
        res.publish_to_client_ms_p99 = pct(self.e2e, 0.99)

    async def drain(self, server: subprocess.Popen[bytes], timeout: float) -> None:
        t = time.monotonic()
        server.send_signal(signal.SIGTERM)
        _, pending = await asyncio.wait(self.receivers, timeout=timeout)
        for task in pending:
            task.cancel()
        closed = [c.closed_at for c in self.clients if c.closed_at]
        self.res.drain_s = max(closed, default=t) - t
        self.res.closed_1012 = sum(1 for c in self.clients if c.close_code == 1012)
        told = [
            c.ws.told_at
            for c in self.clients
            if c.ws.told_at is not None and c.ws.protocol.close_rcvd.code == 1012
        ]
        self.res.told_1012 = len(told)
        self.res.told_s = max(told, default=t) - t


def _token(secret: str, connections: int) -> str:
    return jwt_hs256.encode(
        {
            "sub": "bench",
            "exp": time.time() + 3600,
            "aud": DEFAULT_JWT_AUDIENCE,  # required (TICKCAST_WS_JWT_AUDIENCE is unset here)
            "symbols": ["*"],  # a token without `symbols` reads nothing
            "limits": {
                "max_connections": connections + 10,
                "max_subscriptions": connections + 10,
                "messages_per_second": 100,
            },
        },
        secret.encode(),
    )


def _spawn(module: str, port: int, env: dict[str, str], *serve: str) -> subprocess.Popen[bytes]:
    log = tempfile.NamedTemporaryFile(prefix="bridge-bench-", suffix=".log", delete=False)  # noqa: SIM115 - outlives this function for post-mortems
    return subprocess.Popen(
        [sys.executable, "-m", module, *serve, str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _ready(server: subprocess.Popen[bytes], port: int, http: bool) -> None:
    deadline = time.monotonic() + 60
    while True:
        if http:
            ok = await asyncio.to_thread(_http, f"http://{HOST}:{port}/readyz", None, 2) == 200
        else:
            ok = await asyncio.to_thread(_listening, port)
        if ok:
            return
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"bench server {server.args!r} did not start")
        await asyncio.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.kill()
    server.wait(timeout=30)


async def _settle_rss(pid: int) -> float:
    """RSS once the last allocations of a connect burst are in (a short quiet wait)."""
    await asyncio.sleep(1.0)
    return rss_mib(pid)


async def bench(args: argparse.Namespace) -> Result:
    res = Result(args.connections, args.symbols, args.rounds)
    limit = raise_open_files(args.connections + 2 * args.fanout_clients + FD_HEADROOM)
    if limit < args.connections + FD_HEADROOM:
        res.notes.append(f"open-files limit {limit}: connections capped")
        args.connections = res.connections = max(1, limit - FD_HEADROOM)
    secret = secrets.token_urlsafe(32)
    token = _token(secret, max(args.connections, args.fanout_clients))
    env = {
        **os.environ,
        "TICKCAST_WS_JWT_SECRET": secret,
        "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "false",
        "TICKCAST_LOG_LEVEL": "WARNING",
        "TICKCAST_WS_DRAIN_S": "8",
    }
    if args.memory_sites:
        env[TRACEMALLOC_ENV] = "1"
    port = free_port()
    server = _spawn("tickcast.bench.bridge", port, env, "--serve")
    try:
        await _ready(server, port, http=True)
        res.server_rss_idle_mib = rss_mib(server.pid)
        if args.memory_sites:
            await asyncio.to_thread(_http, f"http://{HOST}:{port}/bench/tracemalloc/start", b"")
        run = Run(args, port, token, res)
        cpu0 = cpu_s(server.pid)
        await run.connect()
        cpu1 = cpu_s(server.pid)
        res.server_rss_connected_mib = await _settle_rss(server.pid)
        res.server_kib_per_idle_connection = (
            (res.server_rss_connected_mib - res.server_rss_idle_mib) * 1024 / res.connections
        )
        if args.memory_sites:
            url = f"http://{HOST}:{port}/bench/tracemalloc/sites?connections={res.connections}"
            _, body = await asyncio.to_thread(
                _http_body, f"{url}&top={args.memory_sites}", None, 600
            )
            res.memory_sites = orjson.loads(body)["report"] if body else "(no answer)"
        await run.publish()
        res.server_cpu_connect_s, res.server_cpu_fanout_s = cpu1 - cpu0, cpu_s(server.pid) - cpu1
        res.server_rss_peak_mib = rss_mib(server.pid, "VmHWM")
        res.client_rss_peak_mib = rss_mib(os.getpid(), "VmHWM")
        res.client_cpu_s = cpu_s(os.getpid())
        await run.drain(server, timeout=15)
    finally:
        _stop(server)
    if args.compare:
        env.pop(TRACEMALLOC_ENV, None)
        await yardstick(args, res, env, token)
    return res


async def yardstick(args: argparse.Namespace, res: Result, env: dict[str, str], token: str) -> None:
    """The bare websockets server: memory for the same N idle connections, then
    fan-out of one update to F clients, alternating with a fresh bridge."""
    bare_port, port = free_port(), free_port()
    bare = _spawn("tickcast.bench.bridge_bare", bare_port, env)
    server = _spawn("tickcast.bench.bridge", port, env, "--serve")
    try:
        await _ready(bare, bare_port, http=False)
        res.bare_rss_idle_mib = rss_mib(bare.pid)
        idle = fanout.Audience(f"ws://{HOST}:{bare_port}/", args.connections)
        await idle.open(args.concurrency)
        res.bare_rss_connected_mib = await _settle_rss(bare.pid)
        res.bare_kib_per_idle_connection = (
            (res.bare_rss_connected_mib - res.bare_rss_idle_mib) * 1024 / args.connections
        )
        await idle.close()
        gc.collect()  # this process just dropped N connections: not during the fan-out
        await asyncio.sleep(2.0)  # and let the bare server finish closing them

        await _ready(server, port, http=True)
        n = res.fanout_clients = args.fanout_clients
        res.fanout_updates = args.fanout_updates
        ours = fanout.Audience(f"ws://{HOST}:{port}/ws?token={token}", n)
        theirs = fanout.Audience(f"ws://{HOST}:{bare_port}/", n)
        await ours.open(args.concurrency)
        await theirs.open(args.concurrency)
        control = await websockets.connect(
            f"ws://{HOST}:{bare_port}{CONTROL}", compression=None, ping_interval=None
        )

        async def publish_ours(seq: int) -> None:
            body = orjson.dumps([prediction_doc(fanout.SYMBOL, seq)])
            await asyncio.to_thread(_http, f"http://{HOST}:{port}/bench/publish", body)

        async def publish_theirs(seq: int) -> None:
            await control.send(f"publish {fanout.SYMBOL} {seq}")
            await control.recv()

        res.fanout_delivered, res.bare_fanout_delivered = await fanout.compare(
            [(ours, publish_ours), (theirs, publish_theirs)], args.fanout_updates, args.settle
        )
        res.fanout_one_ms_p50 = pct(ours.latencies_ms, 0.5)
        res.fanout_one_ms_p99 = pct(ours.latencies_ms, 0.99)
        res.bare_fanout_ms_p50 = pct(theirs.latencies_ms, 0.5)
        res.bare_fanout_ms_p99 = pct(theirs.latencies_ms, 0.99)
        await control.close()
        await ours.close()
        await theirs.close()
    finally:
        _stop(server)
        _stop(bare)


def report(res: Result) -> str:
    delivered = f"{res.delivered}/{res.expected}"
    lines = [
        f"connections            {res.connections} ({res.symbols} symbols, {res.rounds} rounds)",
        f"connect all            {res.connect_s:.2f} s "
        f"({res.connections / max(res.connect_s, 1e-9):.0f}/s; handshake+subscribe "
        f"p50 {res.handshake_ms_p50:.1f} ms, p99 {res.handshake_ms_p99:.1f} ms)",
        f"updates delivered      {delivered}",
        f"fan-out hub->client    p50 {res.fanout_ms_p50:.1f} ms, p99 {res.fanout_ms_p99:.1f} ms, "
        f"max {res.fanout_ms_max:.1f} ms",
        f"publish->client        p50 {res.publish_to_client_ms_p50:.1f} ms, "
        f"p99 {res.publish_to_client_ms_p99:.1f} ms",
        f"server RSS             idle {res.server_rss_idle_mib:.0f} MiB, connected "
        f"{res.server_rss_connected_mib:.0f} MiB, peak {res.server_rss_peak_mib:.0f} MiB "
        f"({(res.server_rss_peak_mib - res.server_rss_idle_mib) * 1024 / max(res.connections, 1):.1f}"
        " KiB/connection)",
        f"client RSS peak        {res.client_rss_peak_mib:.0f} MiB",
        f"CPU                    server {res.server_cpu_connect_s:.1f} s connecting + "
        f"{res.server_cpu_fanout_s:.1f} s fanning out; client {res.client_cpu_s:.1f} s",
        f"SIGTERM drain          {res.closed_1012}/{res.connections} closed with 1012 in "
        f"{res.drain_s:.2f} s (close frame 1012 received: {res.told_1012} in {res.told_s:.2f} s)",
        f"idle connection        {res.server_kib_per_idle_connection:.1f} KiB each above the idle "
        "process (authenticated, subscribed, before any update)",
    ]
    if res.fanout_clients:
        lines += yardstick_report(res)
    if res.memory_sites:
        lines.append(res.memory_sites)
    return "\n".join(lines + [f"note: {n}" for n in res.notes])


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def yardstick_report(res: Result) -> list[str]:
    n, k = res.fanout_clients, res.fanout_updates
    ratio = res.fanout_one_ms_p99 / max(res.bare_fanout_ms_p99, 1e-9)
    return [
        f"bare websockets        idle {res.bare_rss_idle_mib:.0f} MiB, connected "
        f"{res.bare_rss_connected_mib:.0f} MiB: {res.bare_kib_per_idle_connection:.1f} KiB per "
        f"idle connection ({res.connections} connections)",
        f"fan-out 1 -> {n}       tickcast p50 {res.fanout_one_ms_p50:.1f} ms, p99 "
        f"{res.fanout_one_ms_p99:.1f} ms ({res.fanout_delivered}/{n * k}); bare websockets.broadcast "
        f"p50 {res.bare_fanout_ms_p50:.1f} ms, p99 {res.bare_fanout_ms_p99:.1f} ms "
        f"({res.bare_fanout_delivered}/{n * k}); {k} updates each, alternating",
        f"{_verdict(res.server_kib_per_idle_connection <= TARGET_KIB)} memory per idle "
        f"connection {res.server_kib_per_idle_connection:.1f} KiB (target <= {TARGET_KIB:g} KiB; "
        f"bare websockets {res.bare_kib_per_idle_connection:.1f} KiB)",
        f"{_verdict(ratio <= TARGET_P99_RATIO and res.fanout_delivered == n * k)} fan-out p99 "
        f"{res.fanout_one_ms_p99:.1f} ms = {ratio:.2f}x bare {res.bare_fanout_ms_p99:.1f} ms "
        f"(target <= {TARGET_P99_RATIO:g}x)",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--symbols", type=int, default=100, help="clients are spread over these")
    p.add_argument("--rounds", type=int, default=10, help="updates per symbol")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    p.add_argument("--concurrency", type=int, default=200, help="handshakes in flight")
    p.add_argument("--settle", type=float, default=30.0, help="wait for the last updates (s)")
    p.add_argument("--timeout", type=float, default=600.0, help="hard stop for the whole run (s)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--compare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure a bare websockets server (memory, fan-out)",
    )
    p.add_argument("--fanout-clients", type=int, default=1000, help="clients of one symbol")
    p.add_argument("--fanout-updates", type=int, default=20, help="updates to them, per server")
    p.add_argument(
        "--memory-sites", type=int, default=0, metavar="K", help="top K tracemalloc sites"
    )
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if min(args.connections, args.symbols, args.rounds, args.concurrency) < 1:
        p.error("--connections, --symbols, --rounds and --concurrency must be positive")
    if min(args.fanout_clients, args.fanout_updates) < 1:
        p.error("--fanout-clients and --fanout-updates must be positive")
    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        res = runner.run(asyncio.wait_for(bench(args), args.timeout))
    if args.json:
        print(orjson.dumps(vars(res), option=orjson.OPT_INDENT_2).decode())
    else:
        print(report(res))
    return 0 if res.delivered == res.expected and res.closed_1012 == res.connections else 1


if __name__ == "__main__":
    raise SystemExit(main())
