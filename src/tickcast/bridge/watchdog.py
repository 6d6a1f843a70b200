"""Restart Firestore listeners that died or went quiet.

The Python client's `on_snapshot` runs on a background consumer thread that
can end after an error without calling anyone back: the bridge would keep
serving its last cached state forever. The watchdog checks every listener on
a timer: an inactive watch is restarted; so is a listener silent for longer
than TICKCAST_WS_LISTENER_SILENCE_S when it watches a collection that should
keep changing (symbols/; a half-open stream looks exactly like a quiet market,
and a restart costs one read per document); and a listener over a moving range
(recent alerts) once it is older than its `max_age_s`. Restarting re-delivers
every document; the hub drops what it already published and fills any hole
from history, so clients see no duplicate and no gap. The api_keys listener is
watched like the others; since a quiet api_keys is normal, a stream that is
half-open there is covered by the key recheck instead (see app.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tickcast import log
from tickcast.bridge.listener import CollectionListener

_log = log.get("bridge.watchdog")


class Watchdog:
    def __init__(
        self, listeners: Sequence[CollectionListener], interval_s: float, silence_s: float
    ) -> None:
        self.listeners = list(listeners)
        self.interval_s = interval_s
        self.silence_s = silence_s
        self.checks = 0

    def diagnose(self, listener: CollectionListener) -> str | None:
        """Why `listener` must be restarted, or None."""
        if not listener.active:
            return "watch stopped (its consumer thread ended or the stream closed)"
        if (
            listener.restart_when_silent
            and self.silence_s > 0
            and listener.silent_for() > self.silence_s
        ):
            return f"no change for {listener.silent_for():.0f} s"
        if listener.max_age_s is not None and listener.age() > listener.max_age_s:
            return f"moving its range forward after {listener.age():.0f} s"
        return None

    async def check(self) -> list[str]:
        """One pass; returns the collections restarted."""
        self.checks += 1
        restarted = []
        for listener in self.listeners:
            why = self.diagnose(listener)
            if why is not None:
                # Closing a Firestore watch joins its thread: keep that off the loop.
                await asyncio.to_thread(listener.restart, why)
                restarted.append(listener.collection)
        return restarted

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # keep watching: the next pass retries
                _log.exception("watchdog pass failed")
