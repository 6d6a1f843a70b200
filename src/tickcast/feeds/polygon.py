"""Polygon.io WebSocket clusters: stocks, crypto, forex (options, indices).

Protocol (https://polygon.io/docs/websocket/quickstart, https://polygon.io/docs/stocks/ws_getting-started,
the knowledge base https://polygon.io/knowledge-base/categories/websockets, and the
official client https://github.com/polygon-io/client-python, polygon/websocket/__init__.py):

- URL `wss://socket.polygon.io/{cluster}` (`wss://delayed.polygon.io/stocks` for
  15-minute delayed data: set TICKCAST_FEED_URL).
- On connect: `[{"ev":"status","status":"connected","message":"Connected Successfully"}]`.
- `{"action":"auth","params":"<key>"}` -> `status` `auth_success` ("authenticated") or
  `auth_failed` ("authentication failed"); no auth in time -> `auth_timeout`.
- `{"action":"subscribe","params":"T.AAPL,Q.AAPL"}` -> `status` `success`,
  "subscribed to: T.AAPL" (one per channel, or one for the list).
- One connection per cluster by default: a second one gets `max_connections`
  ("Maximum number of websocket connections exceeded") and is closed.
- Data: JSON arrays of events (`ev` T, Q, A, AM; crypto XT, XQ, XA, XAS keyed by
  `pair`; forex C keyed by `p`, CA, CAS keyed by `pair`), several symbols per array.

`auth_failed` stops the connector. `max_connections` is retried after at least
TICKCAST_FEED_LIMIT_BACKOFF_S (another instance holds the connection, e.g. during a
rollout). Any other status is logged; the subscription must be acknowledged within
TICKCAST_FEED_HANDSHAKE_TIMEOUT_S or the connection is retried.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from tickcast.feeds.protocol import Fatal, Retry, Step, VendorProtocol

HOST: Final = "wss://socket.polygon.io"
SUBSCRIBED: Final = "subscribed to:"


def _symbol(m: dict[str, Any]) -> str | None:
    for key in ("sym", "pair"):
        v = m.get(key)
        if isinstance(v, str):
            return v
    v = m.get("p")  # forex quotes `C` name the pair `p` (elsewhere `p` is a price)
    return v if m.get("ev") == "C" and isinstance(v, str) else None


class Polygon(VendorProtocol):
    format: ClassVar[str] = "polygon"

    def url(self) -> str:
        return self.cfg.url or f"{HOST}/{self.cfg.stream_name}"

    def params(self) -> list[str]:
        return [f"{ch}.{s}" for ch in self.cfg.channel_list for s in self.cfg.symbols]

    def start(self) -> Step:
        self._wanted = {p.upper() for p in self.params()}
        self._acked: set[str] = set()
        self._ready = False
        return Step()

    def _status(self, m: dict[str, Any]) -> Step:
        status = m.get("status")
        text = str(m.get("message", ""))
        if status == "connected":
            key = self.cfg.polygon_api_key
            auth = {"action": "auth", "params": key.get_secret_value() if key else ""}
            return Step(send=[orjson.dumps(auth).decode()], control="connected")
        if status == "auth_success":
            sub = {"action": "subscribe", "params": ",".join(self.params())}
            return Step(send=[orjson.dumps(sub).decode()], control="auth_success")
        if status == "auth_failed":
            raise Fatal("polygon_auth_failed", f"{text} (check POLYGON_API_KEY)")
        if status == "max_connections":
            raise Retry("polygon_max_connections", text, self.cfg.limit_backoff_s)
        if status == "auth_timeout":
            raise Retry("polygon_auth_timeout", text)
        if status == "success" and text.startswith(SUBSCRIBED):
            self._acked |= {p.strip().upper() for p in text[len(SUBSCRIBED) :].split(",")}
            if not self._ready and self._wanted <= self._acked:
                self._ready = True
                return Step(ready=True, control="subscribed")
            return Step(control="subscribed")
        if status == "success":
            return Step(control="success")
        return Step(control=str(status), note=f"polygon status {status!r}: {text}")

    def receive(self, raw: bytes) -> Step:
        return self.receive_json(raw, self._status_or_none, _symbol)

    def _status_or_none(self, m: dict[str, Any]) -> Step | None:
        return self._status(m) if m.get("ev") == "status" else None
