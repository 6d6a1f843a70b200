"""Who a connection is: the credential's identity, symbol entitlements and limits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tickcast.bridge.jwt_hs256 import expired
from tickcast.config import Settings
from tickcast.schema import normalise_symbol

Kind = Literal["api_key", "jwt", "google", "local"]
ALL_SYMBOLS = "*"


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int
    max_subscriptions: int
    messages_per_second: float

    @classmethod
    def defaults(cls, cfg: Settings) -> Limits:
        return cls(
            cfg.ws_default_max_connections,
            cfg.ws_default_max_subscriptions,
            cfg.ws_default_messages_per_second,
        )

    @classmethod
    def from_mapping(cls, raw: object, fallback: Limits) -> Limits:
        """Limits stored with a key or carried in a JWT claim; missing ones fall back."""
        if not isinstance(raw, dict):
            return fallback

        def pick(name: str, default: float) -> float:
            v = raw.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
                return float(v)
            return default

        return cls(
            int(pick("max_connections", fallback.max_connections)),
            int(pick("max_subscriptions", fallback.max_subscriptions)),
            pick("messages_per_second", fallback.messages_per_second),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "max_connections": self.max_connections,
            "max_subscriptions": self.max_subscriptions,
            "messages_per_second": self.messages_per_second,
        }


@dataclass(frozen=True, slots=True)
class Principal:
    id: str  # what connection and subscription limits are counted against
    name: str
    kind: Kind
    symbols: frozenset[str] | None  # None: every symbol
    limits: Limits
    expires_at: float | None = None  # epoch seconds (JWT `exp`)
    key_id: str | None = None  # API keys: revocation closes this key's sockets

    def expired(self, now: float) -> bool:
        """Past `expires_at` by more than the leeway the token was decoded with."""
        return self.expires_at is not None and expired(self.expires_at, now)

    def may_read(self, symbol: str) -> bool:
        return self.symbols is None or symbol in self.symbols

    def forbidden(self, symbols: Iterable[str]) -> list[str]:
        return [s for s in symbols if not self.may_read(s)]

    def describe(self) -> dict[str, object]:
        return {
            "principal": self.name,
            "kind": self.kind,
            "symbols": [ALL_SYMBOLS] if self.symbols is None else sorted(self.symbols),
            "limits": self.limits.as_dict(),
            "expires_at": self.expires_at,
        }


def entitlements(raw: object) -> frozenset[str] | None:
    """`["*"]` (or a missing claim) means every symbol; otherwise the listed ones, as
    `normalise_symbol` spells them (a key granting `BTC/USD` grants `BTC-USD`)."""
    if raw is None or raw == ALL_SYMBOLS:
        return None
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        items = [str(s) for s in raw]
        return None if ALL_SYMBOLS in items else frozenset(map(normalise_symbol, items))
    return frozenset()


def local(cfg: Settings) -> Principal:
    """TICKCAST_WS_ALLOW_UNAUTHENTICATED: every symbol, no connection cap."""
    base = Limits.defaults(cfg)
    return Principal(
        "local",
        "local",
        "local",
        None,
        Limits(10**9, base.max_subscriptions * 100, base.messages_per_second * 10),
    )
