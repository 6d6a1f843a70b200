"""Yahoo Finance streamer (public, no key).

Yahoo documents none of it; this follows what its web client does, as decoded in
https://jonpalmisc.com/2020/08/10/yahoo-finance-websockets and as the yfinance
project's live client does it (https://github.com/ranaroussi/yfinance,
yfinance/live.py, yfinance/pricing.proto):

- URL `wss://streamer.finance.yahoo.com/?version=2`.
- No authentication. The client sends `{"subscribe": ["AAPL", "BTC-USD"]}`; there is
  no acknowledgement, so the connection is subscribed once that is sent. yfinance
  resends the subscription every 15 seconds as a heartbeat
  (TICKCAST_FEED_RESUBSCRIBE_S).
- Each server message is one quote: with `version=2` the JSON envelope
  `{"type":"pricing","message":"<base64 PricingData>"}`, without it the bare base64.
  PricingData field 1 (`id`) is the symbol, so every frame has exactly one symbol and
  its ordering key is exact.

Frames whose quote type is HEARTBEAT are not market data and are not published.
A frame that does not decode is published anyway (shard 0): ingest dead-letters it
with its bytes, which is where a changed wire format should show up.
"""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar, Final

import orjson
from google.protobuf.message import DecodeError

from tickcast.feeds.protocol import Step, VendorProtocol
from tickcast.ingest.formats.yahoo_pricing_pb2 import PricingData

URL: Final = "wss://streamer.finance.yahoo.com/?version=2"


def _pricing(b64: str) -> PricingData | None:
    try:
        pd: PricingData = PricingData.FromString(base64.b64decode(b64 + "=" * (-len(b64) % 4)))
        return pd
    except (binascii.Error, ValueError, DecodeError):
        return None


class Yahoo(VendorProtocol):
    format: ClassVar[str] = "yahoo"

    def url(self) -> str:
        return self.cfg.url or URL

    def _subscribe(self) -> str:
        return orjson.dumps({"subscribe": list(self.cfg.symbols)}).decode()

    def start(self) -> Step:
        return Step(send=[self._subscribe()], ready=True, control="subscribed")

    def keepalive(self) -> list[str]:
        return [self._subscribe()]

    @property
    def keepalive_s(self) -> float:
        return self.cfg.resubscribe_s

    def receive(self, raw: bytes) -> Step:
        text = raw.strip()
        b64: str | None
        if text[:1] == b"{":
            try:
                env = orjson.loads(text)
            except orjson.JSONDecodeError:
                return Step(frame=raw, note="frame is not JSON")
            if not isinstance(env, dict) or env.get("type") != "pricing":
                kind = env.get("type") if isinstance(env, dict) else None
                return Step(control=f"type_{kind}", note=f"yahoo message type {kind!r} skipped")
            msg = env.get("message")
            b64 = msg if isinstance(msg, str) else None
        else:
            b64 = text.decode("ascii", "replace")
        pd = _pricing(b64) if b64 is not None else None
        if pd is None or not pd.id:
            return Step(frame=raw, note="frame is not a PricingData message")
        if pd.quote_type == PricingData.HEARTBEAT:
            return Step(control="heartbeat")
        return Step(frame=raw, symbols=(pd.id,))
