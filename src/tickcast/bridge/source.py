"""Where the bridge's data comes from: a small port with a Firestore adapter.

The bridge needs three things from storage: a change stream per collection,
history range reads (resume, hole filling) and single API-key reads. Keeping
them behind this protocol lets the loopback benchmark feed the real app from
memory (memory.py) while production and the emulator tests use Firestore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from tickcast.bridge import history
from tickcast.bridge.apikeys import COLLECTION as API_KEYS

# Called on the store's own thread with (document id, data) for each added or modified document.
OnChange = Callable[[str, dict[str, Any]], None]
OnBatch = Callable[[list[tuple[str, dict[str, Any]]]], None]


class Watch(Protocol):
    @property
    def is_active(self) -> bool: ...

    def close(self) -> None: ...


class Source(Protocol):
    def listen(self, collection: str, on_batch: OnBatch) -> Watch:
        """Start a change stream; the first batch holds every existing document."""
        ...

    def history(
        self, symbol: str, after: int, until: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Blocking. Prediction history with after < seq (<= until), ascending; with `until`
        the newest `limit` such documents, otherwise the oldest."""
        ...

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        """Blocking. One api_keys/{key_id} document."""
        ...


class FirestoreSource:
    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client  # lazy: no Firestore client before the first use

    def listen(self, collection: str, on_batch: OnBatch) -> Watch:
        def callback(_docs: Any, changes: Any, _read_time: Any) -> None:
            batch = [
                (c.document.id, c.document.to_dict() or {})
                for c in changes
                if c.type.name in ("ADDED", "MODIFIED")
            ]
            on_batch(batch)

        watch: Watch = self._client().collection(collection).on_snapshot(callback)
        return watch

    def history(
        self, symbol: str, after: int, until: int | None, limit: int
    ) -> list[dict[str, Any]]:
        if until is None:
            return history.after(self._client(), symbol, after, limit)
        return history.newest_between(self._client(), symbol, after, until, limit)

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        snap = self._client().collection(API_KEYS).document(key_id).get()
        return snap.to_dict() if snap.exists else None
