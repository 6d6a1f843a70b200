"""SIGTERM: stop taking clients, flush what is queued, close every socket with
1012 (service restart) so clients reconnect to another instance with `since`.

Cloud Run sends SIGTERM and kills the instance 10 s later. uvicorn's own
handler would close the sockets at once (dropping queued frames), so the
bridge wraps it: drain first (at most TICKCAST_WS_DRAIN_S), then hand the
signal to uvicorn, which stops the server.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from tickcast import log
from tickcast.bridge.hub import Hub
from tickcast.bridge.protocol import CLOSE_RESTART

_log = log.get("bridge.drain")

RESTART_REASON = "server restarting: reconnect"
STRAGGLER_GRACE_S = 1.0  # after the hard close, time for sessions to unwind


class Drainer:
    def __init__(self, hub: Hub, drain_s: float) -> None:
        self.hub = hub
        self.drain_s = drain_s
        self.draining = False

    async def drain(self) -> None:
        if self.draining:
            return
        self.draining = True
        n = len(self.hub.subscribers)
        _log.info("draining", extra={"connections": n})
        started = time.monotonic()
        self.hub.close_all(CLOSE_RESTART, RESTART_REASON, flush=True)
        await self._until_empty(self.drain_s)
        if self.hub.subscribers:  # could not flush in time: close without the backlog
            self.hub.close_all(CLOSE_RESTART, RESTART_REASON, flush=False)
            await self._until_empty(STRAGGLER_GRACE_S)
        _log.info(
            "drained",
            extra={
                "connections": n,
                "left": len(self.hub.subscribers),
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    async def _until_empty(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.hub.subscribers and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


def on_sigterm(loop: asyncio.AbstractEventLoop, drainer: Drainer) -> Callable[[], None] | None:
    """Drain before the server's own SIGTERM handler runs; returns an uninstaller.

    Only when a Python handler (uvicorn's) is there to hand over to, and only on
    the main thread (where signal handlers live).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return None
    handover: Callable[[int, FrameType | None], Any] = previous

    def handler(signum: int, _frame: FrameType | None) -> None:
        if drainer.draining:  # a second SIGTERM: stop now
            handover(signum, None)
            return

        def start() -> None:
            task = loop.create_task(drainer.drain())
            task.add_done_callback(lambda _t: handover(signum, None))

        loop.call_soon_threadsafe(start)

    signal.signal(signal.SIGTERM, handler)

    def uninstall() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    return uninstall
