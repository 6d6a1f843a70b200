"""Prediction history reads (resume with `since`, REST)."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from tickcast.predict.store import PREDICTIONS, SYMBOLS

MAX_LIMIT = 1000  # one resume replays at most this many bars; older gaps need REST paging


def after(client: Any, symbol: str, seq: int, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
    query = (
        client.collection(SYMBOLS)
        .document(symbol)
        .collection(PREDICTIONS)
        .where(filter=FieldFilter("seq", ">", seq))
        .order_by("seq")
        .limit(limit)
    )
    return [d.to_dict() for d in query.stream()]
