"""Prediction history reads (resume with `since`, hole filling, REST)."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.query import Query

from tickcast.predict.store import PREDICTIONS, SYMBOLS

MAX_LIMIT = 1000  # one read returns at most this many documents; callers page


def _predictions(client: Any, symbol: str) -> Any:
    return client.collection(SYMBOLS).document(symbol).collection(PREDICTIONS)


def after(client: Any, symbol: str, seq: int, limit: int = MAX_LIMIT) -> list[dict[str, Any]]:
    """The oldest `limit` documents with seq > `seq`, ascending."""
    query = (
        _predictions(client, symbol)
        .where(filter=FieldFilter("seq", ">", seq))
        .order_by("seq")
        .limit(min(limit, MAX_LIMIT))
    )
    return [d.to_dict() for d in query.stream()]


def newest_between(
    client: Any, symbol: str, lo: int, hi: int, limit: int = MAX_LIMIT
) -> list[dict[str, Any]]:
    """The newest `limit` documents with lo < seq <= hi, ascending."""
    query = (
        _predictions(client, symbol)
        .where(filter=FieldFilter("seq", ">", lo))
        .where(filter=FieldFilter("seq", "<=", hi))
        .order_by("seq", direction=Query.DESCENDING)
        .limit(min(limit, MAX_LIMIT))
    )
    return [d.to_dict() for d in query.stream()][::-1]
