"""Firestore writes for predictions.

`symbols/{SYM}/predictions/{seq}`: history; the id makes a redelivery an overwrite.
`symbols/{SYM}`: the latest, written in a transaction only when `seq` is newer,
so a late or redelivered older bar never replaces a newer one.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

SYMBOLS = "symbols"
PREDICTIONS = "predictions"


def history_id(seq: int) -> str:
    # Zero-padded so lexical order is time order in the console as well.
    return f"{seq:015d}"


def write(client: firestore.Client, symbol: str, seq: int, doc: dict[str, Any]) -> bool:
    """Write history and, if newer, the latest document. Returns whether latest moved."""
    sym_ref = client.collection(SYMBOLS).document(symbol)
    hist_ref = sym_ref.collection(PREDICTIONS).document(history_id(seq))
    transaction = client.transaction()

    @firestore.transactional
    def txn(t: firestore.Transaction) -> bool:
        snap = sym_ref.get(transaction=t)
        current = snap.get("seq") if snap.exists else None
        t.set(hist_ref, doc)
        if current is None or seq >= int(current):
            t.set(sym_ref, doc)
            return True
        return False

    return bool(txn(transaction))
