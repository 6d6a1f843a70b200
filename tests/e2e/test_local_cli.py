"""`tickcast local up` / `down` as a user runs them, on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tickcast.local.processes import free_port, http_status, port_open

ROOT = Path(__file__).resolve().parents[2]
TICKCAST = str(Path(sys.executable).parent / "tickcast")
pytestmark = pytest.mark.e2e


def wait(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what}")


def test_up_reuses_backends_refuses_a_second_up_and_down_stops_only_its_own(
    backends: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    ports = {
        "--redis-port": str(backends.redis_port),
        "--pubsub-port": backends.env["PUBSUB_EMULATOR_HOST"].rsplit(":", 1)[1],
        "--firestore-port": backends.env["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1],
        **{f"--{n}-port": str(free_port()) for n in ("ingest", "features", "predict", "bridge")},
    }
    args = [
        TICKCAST,
        "local",
        "up",
        "--state-dir",
        str(state),
        "--project",
        "tickcast-cli",
        *sum(ports.items(), ()),
    ]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    up = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait(lambda: (state / "local.env").exists() or up.poll() is not None, 120, "local.env")
        assert up.poll() is None, up.stdout.read() if up.stdout else ""
        local_env = (state / "local.env").read_text()
        assert f"PUBSUB_EMULATOR_HOST=127.0.0.1:{ports['--pubsub-port']}" in local_env
        assert http_status(f"http://127.0.0.1:{ports['--bridge-port']}/readyz") == 200

        second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "already running" in second.stderr

        down = subprocess.run(
            [TICKCAST, "local", "down", "--state-dir", str(state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stderr
        up.wait(timeout=30)
        out = up.stdout.read() if up.stdout else ""
        assert "reused running: redis, pubsub, firestore" in out
        for flag in ("--ingest-port", "--features-port", "--predict-port", "--bridge-port"):
            assert not port_open(int(ports[flag])), f"{flag} still served after down"
        # The backends it reused are not its own: still up.
        assert port_open(backends.redis_port)
        assert not (state / "local.json").exists()
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=30)


def test_a_bad_port_is_a_one_line_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [TICKCAST, "local", "up", "--state-dir", str(tmp_path), "--bridge-port", "70000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "--bridge-port" in r.stderr


def test_up_with_pull_delivery_posts_through_tickcasts_dispatcher(
    backends: Any, puller: Any, tmp_path: Path
) -> None:
    """`--delivery pull`: the routes' subscriptions have no push endpoint, the
    dispatcher delivers to the functions (a bad raw message reaches ingest, which
    dead-letters it), and `down` stops the dispatcher with the rest."""
    import orjson
    from google.cloud import pubsub_v1

    from tickcast.local.topology import topology

    state, project = tmp_path / "state", "tickcast-cli-pull"
    ports = {
        "--redis-port": str(backends.redis_port),
        "--pubsub-port": backends.env["PUBSUB_EMULATOR_HOST"].rsplit(":", 1)[1],
        "--firestore-port": backends.env["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1],
        **{f"--{n}-port": str(free_port()) for n in ("ingest", "features", "predict", "bridge")},
    }
    args = [TICKCAST, "local", "up", "--state-dir", str(state), "--project", project]
    args += [*sum(ports.items(), ()), "--delivery", "pull", "--dispatch-concurrency", "4"]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    up = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait(lambda: (state / "local.env").exists() or up.poll() is not None, 120, "local.env")
        assert up.poll() is None, up.stdout.read() if up.stdout else ""
        sub = pubsub_v1.SubscriberClient()
        names = {
            f"projects/{project}/subscriptions/tickcast-{r.subscription}" for r in topology().routes
        }
        routes = [
            s for s in sub.list_subscriptions(project=f"projects/{project}") if s.name in names
        ]
        assert len(routes) == 5 and not any(s.push_config.push_endpoint for s in routes)
        children = orjson.loads((state / "local.json").read_bytes())["children"]
        assert "dispatch" in children

        dead = puller("tickcast-deadletter", project)
        pubsub_v1.PublisherClient().publish(
            f"projects/{project}/topics/tickcast-raw", b"{not json"
        ).result(10)
        letters = dead.pull(1, timeout_s=30)
        assert letters and letters[0].attributes["stage"] == "ingest"

        down = subprocess.run(
            [TICKCAST, "local", "down", "--state-dir", str(state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stderr
        up.wait(timeout=30)
        out = up.stdout.read() if up.stdout else ""
        assert "pull, tickcast dispatcher (4 in flight per subscription)" in out
        wait(lambda: not _alive(int(children["dispatch"])), 10, "dispatcher stopped")
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
