"""Shared fixtures: the suite starts its own redis-server and emulators on free
ports, polls them for readiness, and stops them even when a test fails."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Backends:
    env: dict[str, str]
    project: str
    redis_port: int


@pytest.fixture(scope="session")
def stack_ports(backends: Backends) -> Any:
    """Ports for a LocalStack on the session's backends, with free ports for its
    services; keyword arguments override any of them (a drill's own Firestore)."""
    from tickcast.local.processes import free_port
    from tickcast.local.stack import Ports

    def make(**own: int) -> Ports:
        ports = {
            "redis": backends.redis_port,
            "pubsub": int(backends.env["PUBSUB_EMULATOR_HOST"].rsplit(":", 1)[1]),
            "firestore": int(backends.env["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1]),
            **{name: free_port() for name in ("ingest", "features", "predict", "bridge")},
        }
        return Ports(**{**ports, **own})

    return make


@pytest.fixture(scope="session")
def local_stack(stack_ports: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`with local_stack("e2e", redis_db=1) as stack:` the whole local pipeline (functions
    and bridge) on the session's backends, in its own project `tickcast-<name>` and Redis
    db, so nothing another test publishes reaches it; 1 s bars. Bars replayed at today's
    time never cross a 09:30 New York session start, so by default each is its own VWAP
    session, as in the demo (`vwap_anchor=None`: the configured default)."""
    from tickcast.local.stack import LocalStack

    @contextlib.contextmanager
    def make(
        name: str, redis_db: int, *, ports: Any = None, vwap_anchor: str | None = "bar", **env: str
    ) -> Iterator[LocalStack]:
        ports = ports or stack_ports()
        extra = {"TICKCAST_REDIS_URL": f"redis://127.0.0.1:{ports.redis}/{redis_db}", **env}
        if vwap_anchor is not None:
            extra["TICKCAST_VWAP_ANCHOR"] = vwap_anchor
        st = LocalStack(
            root=ROOT,
            state_dir=tmp_path_factory.mktemp(name),
            ports=ports,
            project=f"tickcast-{name}",
            bar_seconds=1,
            extra_env=extra,
        )
        st.start()
        try:
            yield st
        finally:
            st.stop()

    return make


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    from tickcast import clients
    from tickcast.config import settings
    from tickcast.local.processes import free_port
    from tickcast.local.stack import LocalStack, Ports
    from tickcast.local.topology import create_topology

    ports = Ports(
        **{
            name: free_port()
            for name in ("redis", "pubsub", "firestore", "ingest", "features", "predict", "bridge")
        }
    )
    stack = LocalStack(
        root=ROOT,
        state_dir=tmp_path_factory.mktemp("backends"),
        ports=ports,
        project="tickcast-test",
        bar_seconds=1,
    )
    saved = dict(os.environ)
    try:
        stack.start_backends()
        env = {**stack.env(), "TICKCAST_MAX_PAST_S": str(10 * 365 * 86400)}
        os.environ.update(env)
        # Topics only: the contract tests drive the functions directly.
        create_topology(
            env,
            stack.project,
            {n: f"http://127.0.0.1:9/{n}" for n in ("ingest", "features", "predict")},
        )
        _drop_push_subscriptions(stack.project)
        settings.cache_clear()
        clients.reset()
        yield Backends(env=env, project=stack.project, redis_port=ports.redis)
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        settings.cache_clear()
        clients.reset()


def _drop_push_subscriptions(project: str, keep: str = "") -> None:
    from google.cloud import pubsub_v1

    sub = pubsub_v1.SubscriberClient()
    for s in sub.list_subscriptions(project=f"projects/{project}"):
        if s.push_config.push_endpoint and s.name != keep:
            sub.delete_subscription(subscription=s.name)


class Puller:
    """A fresh pull subscription: sees only what is published after it exists."""

    def __init__(self, project: str, topic: str) -> None:
        from google.cloud import pubsub_v1

        self.client = pubsub_v1.SubscriberClient()
        self.path = f"projects/{project}/subscriptions/test-{uuid.uuid4().hex[:10]}"
        self.client.create_subscription(name=self.path, topic=f"projects/{project}/topics/{topic}")

    def pull(self, n: int, timeout_s: float = 10.0, max_messages: int = 100) -> list[object]:
        """Up to `n` messages; `max_messages` per response (the client's gRPC channel
        takes 4 MB a response: fewer for large messages)."""
        out: list[object] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n and time.monotonic() < deadline:
            resp = self.client.pull(
                subscription=self.path,
                max_messages=max_messages,
                timeout=2,
                return_immediately=True,
            )
            if resp.received_messages:
                self.client.acknowledge(
                    subscription=self.path, ack_ids=[m.ack_id for m in resp.received_messages]
                )
                out.extend(m.message for m in resp.received_messages)
            else:
                time.sleep(0.05)
        return out

    def close(self) -> None:
        self.client.delete_subscription(subscription=self.path)


@pytest.fixture
def puller(backends: Backends) -> Iterator[object]:
    made: list[Puller] = []

    def make(topic: str, project: str | None = None) -> Puller:
        p = Puller(project or backends.project, topic)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def symbol() -> str:
    """A symbol no other test uses, so tests sharing the emulators never meet."""
    return "T" + uuid.uuid4().hex[:6].upper()


@pytest.fixture
def drop_push_subscriptions(backends: Backends) -> object:
    """Delete a project's push subscriptions (keep one by name) on the session emulator."""
    return _drop_push_subscriptions
