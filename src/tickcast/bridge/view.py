"""What a client sees of a prediction document: one projection for every path.

History documents (`symbols/{SYM}/predictions/{seq}`) carry fields that are
never for clients: the shadow model's prediction (`shadow`), its scores and
outcome (`score`, `outcome`) and the TTL timestamp (`expire_at`). The latest
document (`symbols/{SYM}`) is the history document without them
(`predict.document.latest`). Every client-facing frame (live update, snapshot,
`since` replay, hole fill, `request_prediction`) and every REST body is shaped
here, by that same rule, so a history document and the live update of the
same bar look the same to a client, and no path can forget to strip one.
"""

from __future__ import annotations

from typing import Any

from tickcast.predict.document import latest

BAR_FIELDS = ("symbol", "interval_s", "seq", "bar", "features", "ready", "reason")
ALERT_HIDDEN = ("expire_at",)  # a TTL timestamp on alerts/{id} is storage's, not the client's


def client_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as a client may see it (a new dict; `doc` is left alone)."""
    return latest(doc)


def bar_data(doc: dict[str, Any]) -> dict[str, Any]:
    """The `bars` channel's view: the bar and its features, no prediction."""
    return {k: doc.get(k) for k in BAR_FIELDS}


def alert_data(doc: dict[str, Any]) -> dict[str, Any]:
    """An `alerts/{id}` document as a client sees it."""
    return {k: v for k, v in doc.items() if k not in ALERT_HIDDEN}
