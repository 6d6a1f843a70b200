"""One change listener per watched collection per instance, never one per client.

The Firestore client calls back on its own thread; each batch is handed to the
event loop with `call_soon_threadsafe`, the only safe crossing. The callback
never raises: an exception escaping it ends the client's consumer thread
without a word (the known silent death of `on_snapshot`), and the watchdog
would have to notice. Health is what the watchdog and /readyz read.

The first batch of each watch is the whole collection (or the whole range,
for a listener with `since`); a listener with `on_sync` hands that batch to it
instead of `on_batch`, so a consumer that keeps a copy (the API-key ring) can
drop what was deleted while no watch was running. A listener over a range
(`since`, recomputed at each start) is restarted by the watchdog once it is
`max_age_s` old, so the range moves forward and the watch never accumulates
every document written since the instance started. The history stream
(history_stream.py) is such a range listener over a collection group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tickcast import log
from tickcast.bridge.source import Change, Listens, Since, Watch

_log = log.get("bridge.listener")

Batch = list[Change]


class CollectionListener:
    def __init__(
        self,
        source: Listens,
        collection: str,
        on_batch: Callable[[Batch], None],
        loop: asyncio.AbstractEventLoop,
        *,
        restart_when_silent: bool = False,
        on_sync: Callable[[Batch], None] | None = None,
        since: Callable[[], Since] | None = None,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self.collection = collection
        self._on_batch = on_batch
        self._on_sync = on_sync
        self._since = since
        self._loop = loop
        self._clock = clock
        self.restart_when_silent = restart_when_silent
        self.max_age_s = max_age_s
        self.watch: Watch | None = None
        self.generation = 0  # bumped on each start: late callbacks of an old watch are dropped
        self.synced = False  # the first batch (every existing document) has arrived
        self.started_at = 0.0
        self.last_event = 0.0
        self.changes = 0
        self.restarts = 0
        self.errors = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self.generation += 1
        generation = self.generation
        self.synced = False
        self.started_at = self.last_event = self._clock()
        since = self._since() if self._since is not None else None
        self.watch = self._source.listen(
            self.collection, lambda b: self._callback(generation, b), since
        )
        _log.info("listening", extra={"collection": self.collection})

    def _callback(self, generation: int, batch: Batch) -> None:
        if generation != self.generation:
            return
        try:
            if not self.synced and self._on_sync is not None:
                # Even an empty first batch: "no documents" is news to a copy being kept.
                self._loop.call_soon_threadsafe(self._deliver, batch, self._on_sync)
            elif batch:
                self._loop.call_soon_threadsafe(self._deliver, batch, self._on_batch)
            self.changes += len(batch)
            self.last_event = self._clock()
            self.synced = True
        except Exception as exc:  # the loop is closing; never let the watch thread die of it
            self.errors += 1
            self.last_error = str(exc)

    def _deliver(self, batch: Batch, handler: Callable[[Batch], None]) -> None:
        try:
            handler(batch)
        except Exception as exc:
            self.errors += 1
            self.last_error = str(exc)
            _log.exception("listener batch failed", extra={"collection": self.collection})

    def stop(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            try:
                watch.close()
            except Exception as exc:  # a watch that already died may refuse to close
                self.last_error = str(exc)

    def restart(self, why: str) -> None:
        _log.warning("restarting listener", extra={"collection": self.collection, "reason": why})
        self.stop()
        self.restarts += 1
        self.last_error = why
        self.start()

    @property
    def active(self) -> bool:
        return self.watch is not None and bool(self.watch.is_active)

    @property
    def healthy(self) -> bool:
        return self.active and self.synced

    def silent_for(self) -> float:
        return self._clock() - self.last_event

    def age(self) -> float:
        return self._clock() - self.started_at

    def health(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "active": self.active,
            "synced": self.synced,
            "changes": self.changes,
            "restarts": self.restarts,
            "errors": self.errors,
            "last_error": self.last_error,
            "seconds_since_event": round(self.silent_for(), 1) if self.last_event else None,
        }
