"""Credentials -> Principal: API keys, HS256 JWTs, Google-signed ID tokens.

API key records come from one listener on `api_keys` per instance (KeyRing),
so a revocation or a deletion reaches the bridge in about a second and closes
that key's open sockets; a key too new for the listener is read once from
Firestore, and a key id Firestore does not know is remembered as unknown for
TICKCAST_WS_UNKNOWN_KEY_TTL_S, so a client retrying a bad key costs no further reads.
Blocking work (those reads, Google certificate fetches) runs on the bridge's
lookup executor, never behind history replays.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tickcast import log
from tickcast.bridge import apikeys, jwt_hs256
from tickcast.bridge.google_tokens import GoogleIdVerifier
from tickcast.bridge.jwt_hs256 import TokenError
from tickcast.bridge.principal import Kind, Limits, Principal, entitlements
from tickcast.bridge.source import Change, Source
from tickcast.config import Settings

_log = log.get("bridge.auth")

AuthError = TokenError  # code + message, sent to the client as an error frame

# The `aud` HS256 tokens must carry by default (TICKCAST_WS_JWT_AUDIENCE); clients that
# mint tokens (bench.py, tests) name it from here.
DEFAULT_JWT_AUDIENCE: str = Settings.model_fields["ws_jwt_audience"].default


T = TypeVar("T")


@dataclass
class KeyEvents:
    """What a listener batch means for open connections."""

    closed: list[tuple[str, str, str]] = field(default_factory=list)  # (key_id, code, message)
    changed: list[apikeys.KeyRecord] = field(default_factory=list)  # new entitlements or limits

    def extend(self, other: KeyEvents) -> None:
        self.closed += other.closed
        self.changed += other.changed


class KeyRing:
    """api_keys/{id} records as the listener last saw them."""

    def __init__(self) -> None:
        self.records: dict[str, apikeys.KeyRecord] = {}

    def on_batch(self, batch: list[Change]) -> KeyEvents:
        """Apply a listener batch (a None document: deleted)."""
        events = KeyEvents()
        for key_id, doc in batch:
            before = self.records.get(key_id)
            if doc is None:
                self.records.pop(key_id, None)
                # Closed even if this ring never saw it: a socket may have come in by a direct read.
                events.closed.append((key_id, "revoked", "this API key was deleted"))
                continue
            record = apikeys.KeyRecord.from_doc(key_id, doc)
            if before is not None and before.revoked and not record.revoked:
                continue  # revocation is for good (the CLI has no way back); a stale read
            self.records[key_id] = record
            if record.revoked:
                if before is None or not before.revoked:
                    events.closed.append((key_id, "revoked", "this API key was revoked"))
            elif before is not None and (before.symbols, before.limits) != (
                record.symbols,
                record.limits,
            ):
                events.changed.append(record)
        return events

    def recheck(self, batch: list[Change]) -> KeyEvents:
        """Documents read one by one (app.py's recheck), possibly older than what the
        listener delivered meanwhile: they may only revoke, never grant or re-entitle."""
        return self.on_batch(
            [(key_id, doc) for key_id, doc in batch if doc is None or doc.get("revoked")]
        )

    def sync(self, batch: list[Change]) -> KeyEvents:
        """A (re)started listener's first batch: the whole collection. Keys missing from it
        were deleted while no listener was watching."""
        present = {key_id for key_id, doc in batch if doc is not None}
        events = self.on_batch([(key_id, None) for key_id in self.records.keys() - present])
        events.extend(self.on_batch(batch))
        return events


class Authenticator:
    def __init__(
        self,
        cfg: Settings,
        source: Source,
        keys: KeyRing,
        google: GoogleIdVerifier | None = None,
        *,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cfg = cfg
        self._source = source
        self._keys = keys
        self._executor = executor
        self._clock = clock
        self._defaults = Limits.defaults(cfg)
        self._hs_key = cfg.ws_jwt_secret.encode() if cfg.ws_jwt_secret else None
        self.audience = cfg.ws_jwt_audience
        # What an HS256 token without a `symbols` claim reads: nothing unless configured.
        self._symbols_when_missing = entitlements(list(cfg.ws_jwt_default_symbols))
        self._unknown_ttl_s = cfg.ws_unknown_key_ttl_s
        self._unknown_max = cfg.ws_unknown_key_max
        self._google = google
        if google is None and cfg.ws_google_audience:
            self._google = GoogleIdVerifier(cfg.ws_google_audience, cfg.ws_google_principals)
        self._unknown: OrderedDict[str, float] = OrderedDict()  # key_id -> remembered until
        self._reading: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.key_reads = 0  # api_keys documents read one by one (not by the listener)

    def key_principal(self, record: apikeys.KeyRecord) -> Principal:
        return record.principal(self._defaults)

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def authenticate(self, token: str) -> Principal:
        if token.startswith(f"{apikeys.PREFIX}_"):
            return await self._api_key(token)
        if token.count(".") == 2:
            alg = jwt_hs256.header(token).get("alg")
            if alg == "HS256" and self._hs_key is not None:
                return self._hs256(token)
            if alg == "RS256" and self._google is not None:
                return await self._google_id(token)
            raise AuthError("unauthorized", f"{alg} tokens are not accepted here")
        raise AuthError("unauthorized", "unrecognised token")

    async def _api_key(self, token: str) -> Principal:
        key_id = apikeys.key_id_of(token)
        if key_id is None:
            raise AuthError("unauthorized", "malformed API key")
        record = self._keys.records.get(key_id)
        if record is None:
            doc = await self._read_key(key_id)
            record = apikeys.KeyRecord.from_doc(key_id, doc) if doc else None
        if record is None or not record.matches(token):
            raise AuthError("unauthorized", "unknown API key")
        if record.revoked:
            raise AuthError("revoked", "this API key was revoked")
        return record.principal(self._defaults)

    async def _read_key(self, key_id: str) -> dict[str, Any] | None:
        """One read per key id however many clients ask at once; misses are remembered."""
        now = self._clock()
        until = self._unknown.get(key_id)
        if until is not None:
            if now < until:
                return None
            del self._unknown[key_id]
        reading = self._reading.get(key_id)
        if reading is None:
            reading = asyncio.ensure_future(self._blocking(self._source.api_key, key_id))
            self._reading[key_id] = reading
            self.key_reads += 1
            reading.add_done_callback(lambda _f: self._reading.pop(key_id, None))
        doc = await asyncio.shield(reading)
        if not doc and key_id not in self._keys.records:
            self._unknown[key_id] = self._clock() + self._unknown_ttl_s
            self._unknown.move_to_end(key_id)
            while len(self._unknown) > self._unknown_max:
                self._unknown.popitem(last=False)
        return doc

    def _hs256(self, token: str) -> Principal:
        assert self._hs_key is not None
        claims = jwt_hs256.decode(token, self._hs_key, audience=self.audience)
        raw = claims.get("symbols")
        symbols = self._symbols_when_missing if raw is None else entitlements(raw)
        return self._from_claims("jwt", f"jwt:{claims['sub']}", str(claims["sub"]), claims, symbols)

    async def _google_id(self, token: str) -> Principal:
        assert self._google is not None
        claims = await self._blocking(self._google.verify, token)
        email = str(claims["email"])
        # Google ID tokens carry no `symbols`: an allowlisted identity reads every symbol.
        return self._from_claims("google", f"google:{email}", email, claims, None)

    def _from_claims(
        self,
        kind: Kind,
        principal_id: str,
        name: str,
        claims: dict[str, Any],
        symbols: frozenset[str] | None,
    ) -> Principal:
        exp = claims.get("exp")
        return Principal(
            id=principal_id,
            name=str(claims.get("name") or name),
            kind=kind,
            symbols=symbols,
            limits=Limits.from_mapping(claims.get("limits"), self._defaults),
            expires_at=float(exp) if isinstance(exp, int | float) else None,
        )
