"""Where the bridge's data comes from: a small port with a Firestore adapter.

The bridge needs three things from storage: a change stream per collection,
history range reads (resume, hole filling) and single API-key reads. Keeping
them behind this protocol lets the loopback benchmark feed the real app from
memory (memory.py) while production and the emulator tests use Firestore.
A store that can also stream a collection group (`GroupSource`, Firestore)
feeds the live path from prediction history (history_stream.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from google.cloud.firestore_v1.base_query import FieldFilter

from tickcast.bridge import history
from tickcast.bridge.apikeys import COLLECTION as API_KEYS

# (document id, data); data None: the document was deleted or left the listened range.
Change = tuple[str, dict[str, Any] | None]
OnBatch = Callable[[list[Change]], None]
# Listen only to documents whose `field` >= `value` (e.g. recent alerts).
Since = tuple[str, Any]


class Watch(Protocol):
    @property
    def is_active(self) -> bool: ...

    def close(self) -> None: ...


class Listens(Protocol):
    """What a CollectionListener needs: one change stream."""

    def listen(self, collection: str, on_batch: OnBatch, since: Since | None = None) -> Watch:
        """Start a change stream, called on the store's own thread; the first batch holds
        every existing document (of the range, with `since`)."""
        ...


@runtime_checkable
class GroupSource(Protocol):
    def listen_group(
        self, parent: str, group: str, on_batch: OnBatch, since: Since | None = None
    ) -> Watch:
        """Like `listen`, over every `{parent}/{id}/{group}` collection at once."""
        ...


class Source(Listens, Protocol):
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

    def listen(self, collection: str, on_batch: OnBatch, since: Since | None = None) -> Watch:
        return _watch(self._client().collection(collection), on_batch, since, None)

    def listen_group(
        self, parent: str, group: str, on_batch: OnBatch, since: Since | None = None
    ) -> Watch:
        # A collection group spans every collection of that name in the database: keep
        # only those directly under `parent` documents (symbols/{SYM}/predictions).
        def wanted(path: str) -> bool:
            parts = path.split("/")
            return len(parts) == 4 and parts[0] == parent and parts[2] == group

        return _watch(self._client().collection_group(group), on_batch, since, wanted)

    def history(
        self, symbol: str, after: int, until: int | None, limit: int
    ) -> list[dict[str, Any]]:
        if until is None:
            return history.after(self._client(), symbol, after, limit)
        return history.newest_between(self._client(), symbol, after, until, limit)

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        snap = self._client().collection(API_KEYS).document(key_id).get()
        return snap.to_dict() if snap.exists else None


def _watch(
    ref: Any, on_batch: OnBatch, since: Since | None, wanted: Callable[[str], bool] | None
) -> Watch:
    def callback(_docs: Any, changes: Any, _read_time: Any) -> None:
        batch: list[Change] = [
            (
                c.document.id,
                None if c.type.name == "REMOVED" else (c.document.to_dict() or {}),
            )
            for c in changes
            if wanted is None or wanted(c.document.reference.path)
        ]
        on_batch(batch)

    if since is not None:
        ref = ref.where(filter=FieldFilter(since[0], ">=", since[1]))
    watch: Watch = ref.on_snapshot(callback)
    return watch
