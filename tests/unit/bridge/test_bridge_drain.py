"""The SIGTERM drain keeps the heap out of the garbage collector's way.

With 10,000 connections the heap holds millions of tracked objects, and the
drain itself allocates enough (a cancelled read, a close and its timer per
socket) to trigger full collections that walk all of it while the event loop
stands still: under load no close frame left for ~9 s (docs/PERFORMANCE.md).
What is asserted is where the objects alive before the drain are: outside the
collector's generations (frozen) while it runs, back once the handler is
uninstalled. No timing.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Any

import pytest

from tickcast.bridge.drain import Drainer, on_sigterm
from tickcast.bridge.hub import Hub, Subscriber
from tickcast.bridge.outbox import Outbox
from tickcast.bridge.principal import Limits, Principal
from tickcast.bridge.protocol import CLOSE_RESTART

WHO = Principal("p", "p", "local", None, Limits(10, 10, 10))


def _collected(marker: object) -> bool:
    """Is `marker` in one of the collector's generations (walked by a full collection)?"""
    return any(o is marker for o in gc.get_objects())


@pytest.fixture(autouse=True)
def _unfrozen() -> Any:
    yield
    gc.unfreeze()  # whatever a failing test left behind


class Looking(Subscriber):
    """Notes, as the drain closes it, whether `marker` is walked by the collector."""

    __slots__ = ("marker", "seen")
    marker: object
    seen: list[bool]

    def close(self, code: int, reason: str, *, flush: bool) -> None:
        self.seen.append(_collected(self.marker))
        super().close(code, reason, flush=flush)


def test_objects_alive_when_the_drain_starts_are_not_walked_by_the_collector() -> None:
    asyncio.run(_drain_once())


async def _drain_once() -> None:
    hub = Hub()
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    ended: list[bool] = []
    connection = [{"socket": i} for i in range(100)]  # what a connection keeps alive
    s = Looking("c1", WHO, send, Outbox(16, 1000, 60.0))
    s.marker, s.seen = connection, []
    hub.add(s)

    def end() -> None:
        ended.append(True)
        hub.remove(s)

    s.start(end)
    assert _collected(connection)

    drainer = Drainer(hub, drain_s=1.0)
    await drainer.drain()

    assert ended == [True] and s.close_code == CLOSE_RESTART
    assert s.seen == [False]  # frozen: no collection during the drain walks it
    assert not _collected(connection)  # still frozen until the process exits...
    drainer.thaw()
    assert _collected(connection)  # ...or the handler is uninstalled
    drainer.thaw()  # once only: a second thaw is a no-op
    assert _collected(connection)


def test_uninstalling_the_sigterm_handler_thaws_the_heap() -> None:
    asyncio.run(_install_drain_uninstall())


async def _install_drain_uninstall() -> None:
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # stands for uvicorn's
    try:
        drainer = Drainer(Hub(), drain_s=1.0)
        uninstall = on_sigterm(asyncio.get_running_loop(), drainer)
        assert uninstall is not None
        marker = [object()]
        await drainer.drain()
        assert not _collected(marker)
        uninstall()
        assert _collected(marker)
    finally:
        signal.signal(signal.SIGTERM, previous)
