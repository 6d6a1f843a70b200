"""Shared helpers of the feed tests: an in-memory Pub/Sub publisher with the real
client's ordering-key semantics, settings, and a connector run as a task."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tickcast.feeds.connector import Connector
from tickcast.feeds.settings import FeedSettings, Vendor

TOPIC = "projects/tickcast-test/topics/tickcast-raw"


class Unavailable(Exception):
    """What a failed publish raises (the real client: google.api_core ServiceUnavailable)."""


@dataclass
class Published:
    data: bytes
    key: str
    attrs: dict[str, str]


@dataclass
class MemoryClient:
    """publish/resume_publish as google.cloud.pubsub_v1.PublisherClient with ordering on:
    a failure pauses the key, and every later publish on it fails until resumed."""

    fail: bool = False
    delay_s: float = 0.0
    published: list[Published] = field(default_factory=list)
    failures: int = 0
    resumed: list[str] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(
        self, topic: str, data: bytes, ordering_key: str = "", **attrs: Any
    ) -> concurrent.futures.Future[str]:
        assert topic == TOPIC
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()

        def settle() -> None:
            with self.lock:
                if ordering_key in self.paused:
                    self.failures += 1
                    fut.set_exception(Unavailable(f"ordering key {ordering_key} paused"))
                elif self.fail:
                    self.failures += 1
                    self.paused.add(ordering_key)
                    fut.set_exception(Unavailable("503 service unavailable"))
                else:
                    self.published.append(Published(data, ordering_key, dict(attrs)))
                    fut.set_result(str(len(self.published)))

        if self.delay_s:
            threading.Timer(self.delay_s, settle).start()
        else:
            settle()
        return fut

    def resume_publish(self, topic: str, ordering_key: str) -> None:
        with self.lock:
            self.paused.discard(ordering_key)
            self.resumed.append(ordering_key)


def settings(vendor: Vendor, url: str, **over: Any) -> FeedSettings:
    base: dict[str, Any] = {
        "url": url,
        "symbols": "AAPL,MSFT",
        "port": 0,
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.4,
        "limit_backoff_s": 0.3,
        "handshake_timeout_s": 3.0,
        "publish_backoff_max_s": 0.05,
        "drain_s": 3.0,
        "APCA_API_KEY_ID": "key",
        "APCA_API_SECRET_KEY": "secret",
        "POLYGON_API_KEY": "key",
    }
    base.update(over)
    aliases = {n: f.alias for n, f in FeedSettings.model_fields.items() if f.alias}
    env = {aliases.get(k, k): str(v) for k, v in base.items()}
    return FeedSettings.from_env(vendor, env)


async def until(cond: Callable[[], bool], timeout_s: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


class Running:
    """A connector run as a task, stopped (request_stop) and awaited on exit."""

    def __init__(self, connector: Connector) -> None:
        self.c = connector
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.c.run(host="127.0.0.1", install_signals=False))
        await until(lambda: self.c.port is not None or self.task.done(), what="health port")  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if not self.task.done():
            self.c.request_stop()
        await asyncio.wait_for(self.task, 10)

    async def code(self, timeout_s: float = 10.0) -> int:
        assert self.task is not None
        return await asyncio.wait_for(asyncio.shield(self.task), timeout_s)

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient() as http:
            return await http.get(f"http://127.0.0.1:{self.c.port}{path}", timeout=5)
