"""Alpaca market data stream: stocks v2 and crypto v1beta3.

Protocol (https://docs.alpaca.markets/docs/streaming-market-data,
https://docs.alpaca.markets/docs/real-time-stock-pricing-data,
https://docs.alpaca.markets/docs/real-time-crypto-pricing-data):

- URL `wss://stream.data.alpaca.markets/v2/{feed}` (iex, sip, delayed_sip, boats,
  overnight; `test` is always on, symbol FAKEPACA), crypto
  `wss://stream.data.alpaca.markets/v1beta3/crypto/us`.
- On connect: `[{"T":"success","msg":"connected"}]`; then, within 10 seconds,
  `{"action":"auth","key":...,"secret":...}` -> `[{"T":"success","msg":"authenticated"}]`.
- `{"action":"subscribe","trades":[...],"quotes":[...],...}` -> `[{"T":"subscription",
  "trades":[...],...}]`, always the whole current list.
- Control messages (`success`, `error`, `subscription`) arrive in arrays of one;
  data arrays may hold several messages, of several symbols.
- Errors `[{"T":"error","code":N,"msg":...}]`: 400 invalid syntax, 401 not
  authenticated, 402 auth failed, 403 already authenticated, 404 auth timeout,
  405 symbol limit exceeded, 406 connection limit exceeded (the limit is usually
  one connection per endpoint), 407 slow client (a disconnect may follow), 408 v2
  not enabled, 409 insufficient subscription, 410 invalid subscribe action for
  this feed, 500 internal error.

Which errors stop the connector: those a reconnect cannot fix (keys, entitlement,
a request Alpaca rejects as written, the plan's symbol limit). 406 is retried after
at least TICKCAST_FEED_LIMIT_BACKOFF_S: during a Cloud Run rollout the old instance
still holds the one allowed connection until it stops. 407 is logged and counted;
the connector keeps reading until Alpaca drops it, then reconnects.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from tickcast.feeds.protocol import Fatal, Retry, Step, VendorProtocol

HOST: Final = "wss://stream.data.alpaca.markets"

FATAL_CODES: Final = {
    400: "invalid syntax (the connector's request was rejected as written)",
    402: "auth failed: check APCA_API_KEY_ID / APCA_API_SECRET_KEY",
    405: "symbol limit exceeded: the plan allows fewer symbols than TICKCAST_FEED_SYMBOLS",
    408: "v2 not enabled for this account",
    409: "insufficient subscription: the plan does not include this feed",
    410: "invalid subscribe action for this feed: check TICKCAST_FEED_CHANNELS",
}
LIMIT_CODES: Final = frozenset({406})
# Logged, not ended by us: the vendor decides whether to drop the connection.
NOTE_CODES: Final = frozenset({407})


class Alpaca(VendorProtocol):
    format: ClassVar[str] = "alpaca"

    def url(self) -> str:
        if self.cfg.url:
            return self.cfg.url
        if self.cfg.stream_name == "crypto":
            return f"{HOST}/v1beta3/crypto/us"
        return f"{HOST}/v2/{self.cfg.stream_name}"

    def start(self) -> Step:
        self._authenticated = False
        return Step()

    def _auth(self) -> str:
        key, secret = self.cfg.alpaca_key_id, self.cfg.alpaca_secret_key
        return orjson.dumps(
            {
                "action": "auth",
                "key": key.get_secret_value() if key else "",
                "secret": secret.get_secret_value() if secret else "",
            }
        ).decode()

    def subscribe_message(self) -> str:
        msg: dict[str, Any] = {"action": "subscribe"}
        for channel in self.cfg.channel_list:
            msg[channel] = list(self.cfg.symbols)
        return orjson.dumps(msg).decode()

    def _control(self, m: dict[str, Any]) -> Step:
        kind = m.get("T")
        if kind == "success":
            if m.get("msg") == "connected":
                return Step(send=[self._auth()], control="connected")
            if m.get("msg") == "authenticated":
                self._authenticated = True
                return Step(send=[self.subscribe_message()], control="authenticated")
            return Step(control="success", note=f"unexpected success message {m.get('msg')!r}")
        if kind == "subscription":
            missing = [
                f"{ch}:{s}"
                for ch in self.cfg.channel_list
                for s in self.cfg.symbols
                if s not in (m.get(ch) or ()) and "*" not in (m.get(ch) or ())
            ]
            note = f"subscription acknowledged without {', '.join(missing)}" if missing else None
            return Step(ready=True, control="subscription", note=note)
        # kind == "error"
        code = m.get("code")
        text = str(m.get("msg", ""))
        if isinstance(code, int) and code in FATAL_CODES:
            raise Fatal(f"alpaca_{code}", f"{text} ({FATAL_CODES[code]})")
        if code in LIMIT_CODES:
            raise Retry(f"alpaca_{code}", text, self.cfg.limit_backoff_s)
        if code in NOTE_CODES:
            return Step(control=f"error_{code}", note=f"alpaca error {code}: {text}")
        raise Retry(f"alpaca_{code}", text)

    def receive(self, raw: bytes) -> Step:
        return self.receive_json(raw, self._control_or_none, _symbol)

    def _control_or_none(self, m: dict[str, Any]) -> Step | None:
        return self._control(m) if m.get("T") in ("success", "subscription", "error") else None


def _symbol(m: dict[str, Any]) -> str | None:
    sym = m.get("S")
    return sym if isinstance(sym, str) else None
