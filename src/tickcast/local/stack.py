"""`tickcast local up`: redis-server, the emulators, the three functions and the bridge.

Backends (redis, Pub/Sub and Firestore emulators) are reused when something
already answers on their port; services are always ours. Everything we start
runs in its own process group and is stopped on `stop()`, and only that.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tickcast import log
from tickcast.errors import TickcastError
from tickcast.local.processes import Proc, http_status, port_open, redis_ping
from tickcast.local.topology import Delivery, create_topology

_log = log.get("local")

FUNCTIONS = ("ingest", "features", "predict")
STARTUP_TIMEOUT_S = 90.0


class StackError(TickcastError):
    pass


def _answers(port: int) -> Callable[[], bool]:
    # A cloudevent function answers a bare GET with an HTTP error: it is serving.
    return lambda: http_status(f"http://127.0.0.1:{port}/") is not None


@dataclass(frozen=True)
class Ports:
    redis: int = 6379
    pubsub: int = 8085
    firestore: int = 8086
    ingest: int = 8101
    features: int = 8102
    predict: int = 8103
    bridge: int = 8080

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str]) -> Ports:
        base = cls()
        values = {}
        for name in asdict(base):
            raw = environ.get(f"TICKCAST_LOCAL_{name.upper()}_PORT")
            if raw is not None:
                if not raw.isdigit() or not 0 < int(raw) < 65536:
                    raise StackError(f"TICKCAST_LOCAL_{name.upper()}_PORT={raw!r} is not a port")
                values[name] = int(raw)
        return replace(base, **values)


def sdk_root() -> Path:
    """The gcloud SDK whose emulators we run (CLOUDSDK_ROOT_DIR overrides)."""
    if root := os.environ.get("CLOUDSDK_ROOT_DIR"):
        return Path(root)
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError(
            "gcloud is not on PATH: install the Google Cloud SDK with its Pub/Sub and Firestore emulators"
        )
    return Path(gcloud).resolve().parent.parent


def emulator_commands(ports: Ports, project: str) -> dict[str, list[str]]:
    platform = sdk_root() / "platform"
    pubsub = platform / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    firestore = platform / "cloud-firestore-emulator" / "cloud_firestore_emulator"
    for path, component in ((pubsub, "pubsub-emulator"), (firestore, "cloud-firestore-emulator")):
        if not path.exists():
            raise StackError(
                f"{path} is missing: run `gcloud components install {component}` (needs Java 17)"
            )
    if shutil.which("java") is None:
        raise StackError("java is not on PATH: the emulators need Java 17")
    return {
        "pubsub": [str(pubsub), "--host=127.0.0.1", f"--port={ports.pubsub}"],
        "firestore": [
            str(firestore),
            "start",
            "--host=127.0.0.1",
            f"--port={ports.firestore}",
            f"--project_id={project}",
        ],
    }


def redis_command(port: int) -> list[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise StackError(
            "redis-server is not on PATH: `apt-get install -y redis-server` (make does this)"
        )
    # No persistence: the pipeline treats Redis as a cache it can rebuild.
    return [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@contextlib.contextmanager
def private_redis(prefix: str = "tickcast-redis-") -> Iterator[int]:
    """A redis-server of its own on a free loopback port (benchmarks, tests): its port;
    stopped, and its files removed, on exit."""
    from tickcast.local.processes import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        proc = Proc("redis", redis_command(port), Path(tmp) / "redis.log", cwd=Path(tmp))
        proc.start()
        try:
            proc.wait_ready(lambda: redis_ping(port), 20.0)
            yield port
        finally:
            proc.stop()


@dataclass
class LocalStack:
    root: Path  # the repository (functions/ lives here)
    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    project: str = "tickcast-local"
    bar_seconds: int = 60
    allow_unauthenticated: bool = True
    clock_period_s: float = 1.0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where each function's entry point lives (the null pipeline of `tickcast bench e2e`
    # swaps these); default functions/<name>/main.py.
    function_sources: dict[str, Path] = field(default_factory=dict)
    # push: the emulator's own push; pull: tickcast.local.dispatch, `dispatch_concurrency`
    # requests in flight per subscription.
    delivery: Delivery = "push"
    dispatch_concurrency: int = 16
    procs: list[Proc] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    _clock: threading.Thread | None = None
    _stop_clock: threading.Event = field(default_factory=threading.Event)

    # -- environment ---------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports.pubsub}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports.firestore}",
            "TICKCAST_REDIS_URL": f"redis://127.0.0.1:{self.ports.redis}/0",
            "TICKCAST_BAR_SECONDS": str(self.bar_seconds),
            "TICKCAST_WS_URL": f"ws://127.0.0.1:{self.ports.bridge}/ws",
            **self.extra_env,
        }

    def endpoints(self) -> dict[str, str]:
        p = self.ports
        return {
            "redis": f"redis://127.0.0.1:{p.redis}/0",
            "pubsub emulator": f"127.0.0.1:{p.pubsub}",
            "firestore emulator": f"127.0.0.1:{p.firestore}",
            **{f"function {n}": f"http://127.0.0.1:{getattr(p, n)}/" for n in FUNCTIONS},
            "bridge WebSocket": f"ws://127.0.0.1:{p.bridge}/ws",
            "dashboard": f"http://127.0.0.1:{p.bridge}/",
            "delivery": (
                "emulator push (at most 2 in flight per subscription)"
                if self.delivery == "push"
                else f"pull, tickcast dispatcher ({self.dispatch_concurrency} in flight per subscription)"
            ),
        }

    def _log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    # -- lifecycle -----------------------------------------------------------
    def start_backends(self) -> None:
        cmds = emulator_commands(self.ports, self.project)
        backends: list[tuple[str, list[str], Callable[[], bool]]] = [
            ("redis", redis_command(self.ports.redis), lambda: redis_ping(self.ports.redis)),
            (
                "pubsub",
                cmds["pubsub"],
                lambda: http_status(f"http://127.0.0.1:{self.ports.pubsub}/") == 200,
            ),
            (
                "firestore",
                cmds["firestore"],
                lambda: http_status(f"http://127.0.0.1:{self.ports.firestore}/") == 200,
            ),
        ]
        started: list[tuple[Proc, Callable[[], bool]]] = []
        for name, argv, ready in backends:
            if ready():
                self.reused.append(name)
                _log.info("reusing running backend", extra={"backend": name})
                continue
            proc = Proc(name, argv, self._log_path(name))
            proc.start()
            self.procs.append(proc)
            started.append((proc, ready))
        # Start all three, then wait: the JVMs warm up in parallel.
        for proc, ready in started:
            proc.wait_ready(ready, STARTUP_TIMEOUT_S)

    def start_services(self) -> None:
        for port_name in (*FUNCTIONS, "bridge"):
            port = getattr(self.ports, port_name)
            if port_open(port):
                raise StackError(
                    f"port {port} for {port_name} is in use: stop what holds it or pick another port"
                )
        env = self.env()
        if self.allow_unauthenticated:
            env["TICKCAST_WS_ALLOW_UNAUTHENTICATED"] = "true"
        bin_dir = Path(sys.executable).parent
        started: list[tuple[Proc, Callable[[], bool]]] = []
        for name in FUNCTIONS:
            port = getattr(self.ports, name)
            argv = [
                str(bin_dir / "functions-framework"),
                f"--target={name}",
                f"--source={self.function_sources.get(name, self.root / 'functions' / name / 'main.py')}",
                "--signature-type=cloudevent",
                "--host=127.0.0.1",
                f"--port={port}",
            ]
            proc = Proc(name, argv, self._log_path(name), env=env)
            proc.start()
            self.procs.append(proc)
            started.append((proc, _answers(port)))
        bridge = Proc(
            "bridge",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "main:app",
                f"--app-dir={self.root / 'functions' / 'ws_bridge'}",
                "--host=127.0.0.1",
                f"--port={self.ports.bridge}",
                "--ws=websockets",
                "--timeout-graceful-shutdown=5",
                "--no-access-log",
            ],
            self._log_path("bridge"),
            env=env,
        )
        bridge.start()
        self.procs.append(bridge)
        started.append(
            (bridge, lambda: http_status(f"http://127.0.0.1:{self.ports.bridge}/readyz") == 200)
        )
        for proc, ready in started:
            proc.wait_ready(ready, STARTUP_TIMEOUT_S)

    def start(self) -> None:
        try:
            self.start_backends()
            create_topology(self.env(), self.project, self.push_endpoints(), self.delivery)
            self.start_services()
            if self.delivery == "pull":
                self.start_dispatcher()
            self.start_clock()
        except BaseException:
            self.stop()
            raise

    def start_dispatcher(self) -> None:
        """The pull-delivery dispatcher, its own process: it POSTs like the emulator's
        push does, and its CPU is not taken from whoever runs the stack."""
        ready = self.state_dir / "dispatch.ready"
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()
        ready.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "tickcast.local.dispatch",
            f"--project={self.project}",
            f"--concurrency={self.dispatch_concurrency}",
            f"--ready-file={ready}",
            *(f"--endpoint={name}={url}" for name, url in self.push_endpoints().items()),
        ]
        proc = Proc("dispatch", argv, self._log_path("dispatch"), env=self.env())
        proc.start()
        self.procs.append(proc)
        proc.wait_ready(ready.exists, STARTUP_TIMEOUT_S)

    def push_endpoints(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{getattr(self.ports, name)}/" for name in FUNCTIONS}

    def start_clock(self) -> None:
        """Locally, the clock Cloud Scheduler sends: closes bars on time when trades pause."""
        if self.clock_period_s <= 0:
            return
        from tickcast.local.topology import publish_clock

        env = self.env()

        def loop() -> None:
            while not self._stop_clock.wait(self.clock_period_s):
                try:
                    publish_clock(env, self.project)
                except Exception as exc:
                    _log.warning("clock publish failed", extra={"error": str(exc)})

        self._clock = threading.Thread(target=loop, name="tickcast-clock", daemon=True)
        self._clock.start()

    def stop(self) -> None:
        self._stop_clock.set()
        if self._clock is not None:
            self._clock.join(timeout=5)
        # Services first (they talk to the backends), each process group once.
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as exc:
                _log.warning("stop failed", extra={"proc": proc.name, "error": str(exc)})
        self.procs.clear()

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.procs if p.pid is not None}

    def write_env_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"export {k}={v}" for k, v in sorted(self.env().items())]
        # So `tickcast replay` / `tickcast tail` work in the second shell too.
        lines.append(f'export PATH="{Path(sys.executable).parent}:$PATH"')
        path.write_text(
            "# written by `tickcast local up`; source it in a second shell\n"
            + "\n".join(lines)
            + "\n"
        )
