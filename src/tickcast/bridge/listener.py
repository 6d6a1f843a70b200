"""One Firestore listener per watched collection per instance, never one per client.

The Python client calls back on its own thread; each change is handed to the
event loop with `call_soon_threadsafe`, the only safe crossing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tickcast import log

_log = log.get("bridge.listener")


class CollectionListener:
    def __init__(
        self,
        client: Any,
        collection: str,
        on_doc: Callable[[dict[str, Any]], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._client = client
        self.collection = collection
        self._on_doc = on_doc
        self._loop = loop
        self._watch: Any = None
        self.synced = False  # the first snapshot (every existing document) has arrived
        self.last_event = 0.0
        self.changes = 0

    def start(self) -> None:
        self._watch = self._client.collection(self.collection).on_snapshot(self._callback)
        _log.info("listening", extra={"collection": self.collection})

    def _callback(self, _docs: Any, changes: Any, _read_time: Any) -> None:
        for change in changes:
            if change.type.name in ("ADDED", "MODIFIED"):
                data = change.document.to_dict() or {}
                self._loop.call_soon_threadsafe(self._on_doc, data)
                self.changes += 1
        self.last_event = time.monotonic()
        self.synced = True

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.unsubscribe()
            self._watch = None

    def health(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "synced": self.synced,
            "changes": self.changes,
            "seconds_since_event": round(time.monotonic() - self.last_event, 1)
            if self.last_event
            else None,
        }
