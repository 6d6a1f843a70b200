"""A session that counts request_prediction cache hits for /stats (bridge/opstats.py).

request_prediction is answered from the hub's in-memory latest documents: a hit is
a symbol the cache holds, a miss one it does not (the client gets `not_found`).
Requests for a symbol the caller may not read are neither.
"""

from __future__ import annotations

from fastapi import WebSocket

from tickcast.bridge.hub import Subscriber
from tickcast.bridge.opstats import StatsWindow
from tickcast.bridge.protocol import RequestPrediction
from tickcast.bridge.runtime import Bridge
from tickcast.bridge.session import Session


class CountedSession(Session):
    __slots__ = ("_stats",)  # Session has slots: no per-connection __dict__ here either

    def __init__(self, bridge: Bridge, ws: WebSocket, stats: StatsWindow) -> None:
        super().__init__(bridge, ws)
        self._stats = stats

    def _answer(self, sub: Subscriber, msg: RequestPrediction) -> str:
        if sub.principal.may_read(msg.symbol):
            self._stats.observe_request(msg.symbol in self.b.hub.latest)
        return super()._answer(sub, msg)
