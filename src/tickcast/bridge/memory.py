"""An in-memory Source: the loopback benchmark and unit tests drive the real app
without Firestore. Callbacks run on a separate thread, as Firestore's do, so
the listener's thread-to-loop hand-off is exercised too."""

from __future__ import annotations

import queue
import threading
from typing import Any

from tickcast.bridge.source import Change, OnBatch, Since
from tickcast.predict.store import SYMBOLS


class MemoryWatch:
    def __init__(
        self, owner: MemorySource, collection: str, on_batch: OnBatch, since: Since | None
    ) -> None:
        self._owner = owner
        self.collection = collection
        self.on_batch = on_batch
        self.since = since
        self._active = True

    def wants(self, doc: dict[str, Any]) -> bool:
        if self.since is None:
            return True
        field, bound = self.since
        value = doc.get(field)
        return value is not None and value >= bound

    @property
    def is_active(self) -> bool:
        return self._active

    def close(self) -> None:
        self._active = False
        self._owner.drop(self)

    def kill(self) -> None:
        """Simulate the silent death of a watch thread: no callback, no close."""
        self._active = False


class MemorySource:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.history_docs: dict[str, dict[int, dict[str, Any]]] = {}
        self.watches: list[MemoryWatch] = []
        self.listens = 0  # how many change streams were ever opened
        self.api_key_reads = 0
        self._events: queue.Queue[tuple[MemoryWatch, list[Change]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, name="memory-source", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while (item := self._events.get()) is not None:
            watch, batch = item
            if watch.is_active:
                watch.on_batch(batch)

    def close(self) -> None:
        self._events.put(None)

    # --- writes (the benchmark's and tests' side) ---
    def put(self, collection: str, doc_id: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self.docs.setdefault(collection, {})[doc_id] = doc
            if collection == SYMBOLS and isinstance(doc.get("seq"), int):
                self.history_docs.setdefault(doc_id, {})[doc["seq"]] = doc
            watches = [w for w in self.watches if w.collection == collection and w.is_active]
        for w in watches:
            if w.wants(doc):
                self._events.put((w, [(doc_id, dict(doc))]))

    def delete(self, collection: str, doc_id: str) -> None:
        with self._lock:
            gone = self.docs.get(collection, {}).pop(doc_id, None)
            watches = [w for w in self.watches if w.collection == collection and w.is_active]
        for w in watches:
            if gone is not None and w.wants(gone):
                self._events.put((w, [(doc_id, None)]))

    # --- Source ---
    def listen(self, collection: str, on_batch: OnBatch, since: Since | None = None) -> MemoryWatch:
        watch = MemoryWatch(self, collection, on_batch, since)
        with self._lock:
            self.watches.append(watch)
            self.listens += 1
            existing: list[Change] = [
                (k, dict(v)) for k, v in self.docs.get(collection, {}).items() if watch.wants(v)
            ]
        self._events.put((watch, existing))
        return watch

    def drop(self, watch: MemoryWatch) -> None:
        with self._lock:
            if watch in self.watches:
                self.watches.remove(watch)

    def history(
        self, symbol: str, after: int, until: int | None, limit: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            seqs = sorted(
                s
                for s in self.history_docs.get(symbol, {})
                if s > after and (until is None or s <= until)
            )
            picked = seqs[-limit:] if until is not None else seqs[:limit]
            return [dict(self.history_docs[symbol][s]) for s in picked]

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        with self._lock:
            self.api_key_reads += 1
            doc = self.docs.get("api_keys", {}).get(key_id)
            return dict(doc) if doc else None
