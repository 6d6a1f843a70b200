"""A read-write Firestore transaction whose first read begins it: two round trips.

`firestore.transactional` spends a BeginTransaction RPC before the first read
(google-cloud-firestore 2.x does not use `new_transaction`). The API lets the
first BatchGetDocuments begin the transaction itself (`new_transaction`; the
id comes back in the stream's first response), so a read-decide-write
transaction is one BatchGetDocuments and one Commit. Same semantics as
`transactional`: the reads are the transaction's (locked, or checked at
commit), an ABORTED commit or read is retried with `retry_transaction` (keeps
the transaction's place in line), anything else rolls back and propagates.

`body(snaps, t)` may run more than once: it must only decide and stage writes
on `t` (`t.set`, `t.update`, `t.delete`), with side effects kept for after
`run` returns.

This leans on the client's internals (`_prep_get_all`, `_parse_batch_get`, a
Transaction's `_id` and `_commit`), stable across google-cloud-firestore 2.x
(pinned 2.34.1 in requirements.lock); every predict emulator test runs through
it, and tests/emulator/test_predict_round_trips.py counts its RPCs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.api_core.exceptions import Aborted, GoogleAPIError
from google.cloud import firestore
from google.cloud.firestore_v1.base_client import _parse_batch_get

from tickcast import log

_log = log.get("predict.txn")

T = TypeVar("T")
Snapshots = dict[str, firestore.DocumentSnapshot[Any]]  # by document path (ref.path)
Body = Callable[[Snapshots, firestore.Transaction], T]

MAX_ATTEMPTS = 5  # firestore.Transaction's own default


def _read(
    client: firestore.Client,
    refs: Sequence[firestore.DocumentReference],
    retry_id: bytes | None,
) -> tuple[bytes, Snapshots]:
    """One BatchGetDocuments that begins a read-write transaction: (its id, the snapshots)."""
    request, reference_map, _ = client._prep_get_all(list(refs))
    del request["transaction"]
    rw: dict[str, Any] = {"retry_transaction": retry_id} if retry_id else {}
    request["new_transaction"] = {"read_write": rw}
    tid = b""
    snaps: Snapshots = {}
    try:
        for resp in client._firestore_api.batch_get_documents(
            request=request, metadata=client._rpc_metadata
        ):
            if resp.transaction:
                tid = bytes(resp.transaction)  # the first response carries it
            if resp._pb.WhichOneof("result") is not None:
                snap = _parse_batch_get(resp, reference_map, client)
                snaps[snap.reference.path] = snap
    except BaseException:
        if tid:  # begun, then the stream broke: release its locks
            _rollback(client, tid)
        raise
    if not tid:
        raise RuntimeError("BatchGetDocuments with new_transaction returned no transaction id")
    return tid, snaps


def _rollback(client: firestore.Client, tid: bytes) -> None:
    try:
        client._firestore_api.rollback(
            request={"database": client._database_string, "transaction": tid},
            metadata=client._rpc_metadata,
        )
    except GoogleAPIError as exc:  # the original error is the one to raise
        _log.warning("rollback failed", extra={"error": str(exc)})


def run(
    client: firestore.Client,
    refs: Sequence[firestore.DocumentReference],
    body: Body[T],
    max_attempts: int = MAX_ATTEMPTS,
) -> T:
    """Read `refs`, call `body`, commit its writes: atomically, retried on contention."""
    retry_id: bytes | None = None
    last: Aborted | None = None
    for _ in range(max_attempts):
        try:
            tid, snaps = _read(client, refs, retry_id)
        except Aborted as exc:  # the emulator aborts a read that waited too long on a lock
            last = exc
            continue
        retry_id = retry_id or tid
        t = client.transaction()
        t._id = tid  # type: ignore[assignment]  # begun by the read, not by _begin
        try:
            result = body(snaps, t)
            t._commit()
        except Aborted as exc:  # contention: the server ended it; read again
            t._clean_up()
            last = exc
            continue
        except BaseException:
            if t.in_progress:
                t._clean_up()
                _rollback(client, tid)
            raise
        return result
    # ValueError, as `firestore.transactional` raises when its attempts run out.
    raise ValueError(f"transaction failed after {max_attempts} attempts") from last
