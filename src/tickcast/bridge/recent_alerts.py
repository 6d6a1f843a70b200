"""The alerts of the last window, kept in memory for `GET /v1/alerts`.

A page that opens (the dashboard) wants the latest alerts of its symbols at
once, not only those raised after it connected. Every bridge instance already
runs the alerts listener over the last `TICKCAST_WS_ALERTS_WINDOW_S`, and a cold
start's first snapshot reads that whole window, so each instance holds the same
set without another Firestore query per page load. Bounded twice: by the window
(older alerts are dropped when read) and by `capacity` (the oldest go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from tickcast.bridge.view import alert_data

DEFAULT_CAPACITY = 2_000


def _created_ms(frame: dict[str, Any]) -> int:
    v = frame["data"].get("created_at")
    return v if isinstance(v, int) else 0


class RecentAlerts:
    __slots__ = ("_by_id", "capacity", "window_s")

    def __init__(self, window_s: float, capacity: int = DEFAULT_CAPACITY) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._by_id: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def add(self, doc_id: str, doc: dict[str, Any]) -> None:
        """An alert the listener delivered; a redelivery (listener restart) replaces it."""
        self._by_id.pop(doc_id, None)
        symbol = doc.get("symbol")
        if not isinstance(symbol, str):
            return
        # The live `alert` frame's fields, so a page shows both the same way.
        self._by_id[doc_id] = {
            "type": "alert",
            "channel": "alerts",
            "symbol": symbol,
            "seq": doc.get("seq"),
            "id": doc_id,
            "data": alert_data(doc),
        }
        while len(self._by_id) > self.capacity:
            self._by_id.popitem(last=False)

    def __len__(self) -> int:
        return len(self._by_id)

    def latest(
        self,
        may_read: Callable[[str], bool],
        symbols: Iterable[str] | None = None,
        limit: int = 100,
        now_s: float | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, as live `alert` frames: the readable alerts of `symbols`
        (all when None) created within the window."""
        floor_ms = int(((time.time() if now_s is None else now_s) - self.window_s) * 1000)
        wanted = None if symbols is None else set(symbols)
        picked = [
            a
            for a in self._by_id.values()
            if _created_ms(a) >= floor_ms
            and (wanted is None or a["symbol"] in wanted)
            and may_read(a["symbol"])
        ]
        picked.sort(key=_created_ms, reverse=True)
        return picked[:limit]
