"""Credentials -> Principal: API keys, HS256 JWTs, Google-signed ID tokens.

API key records come from one listener on `api_keys` per instance (KeyRing),
so a revocation reaches the bridge in about a second and closes that key's
open sockets; a key too new for the listener is read once from Firestore.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tickcast import log
from tickcast.bridge import apikeys, jwt_hs256
from tickcast.bridge.google_tokens import GoogleIdVerifier
from tickcast.bridge.jwt_hs256 import TokenError
from tickcast.bridge.principal import Kind, Limits, Principal, entitlements
from tickcast.bridge.source import Source
from tickcast.config import Settings

_log = log.get("bridge.auth")

AuthError = TokenError  # code + message, sent to the client as an error frame


class KeyRing:
    """api_keys/{id} records as the listener last saw them."""

    def __init__(self) -> None:
        self.records: dict[str, apikeys.KeyRecord] = {}

    def on_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Apply a listener batch; returns the ids revoked by it."""
        revoked = []
        for key_id, doc in batch:
            record = apikeys.KeyRecord.from_doc(key_id, doc)
            before = self.records.get(key_id)
            self.records[key_id] = record
            if record.revoked and (before is None or not before.revoked):
                revoked.append(key_id)
        return revoked


class Authenticator:
    def __init__(
        self,
        cfg: Settings,
        source: Source,
        keys: KeyRing,
        google: GoogleIdVerifier | None = None,
    ) -> None:
        self._cfg = cfg
        self._source = source
        self._keys = keys
        self._defaults = Limits.defaults(cfg)
        self._hs_key = cfg.ws_jwt_secret.encode() if cfg.ws_jwt_secret else None
        self._google = google
        if google is None and cfg.ws_google_audience:
            self._google = GoogleIdVerifier(cfg.ws_google_audience, cfg.ws_google_principals)

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
            doc = await asyncio.to_thread(self._source.api_key, key_id)
            record = apikeys.KeyRecord.from_doc(key_id, doc) if doc else None
        if record is None or not record.matches(token):
            raise AuthError("unauthorized", "unknown API key")
        if record.revoked:
            raise AuthError("revoked", "this API key was revoked")
        return record.principal(self._defaults)

    def _hs256(self, token: str) -> Principal:
        assert self._hs_key is not None
        claims = jwt_hs256.decode(token, self._hs_key, audience=self._cfg.ws_jwt_audience)
        return self._from_claims("jwt", f"jwt:{claims['sub']}", str(claims["sub"]), claims)

    async def _google_id(self, token: str) -> Principal:
        assert self._google is not None
        claims = await asyncio.to_thread(self._google.verify, token)
        email = str(claims["email"])
        return self._from_claims("google", f"google:{email}", email, claims)

    def _from_claims(
        self, kind: Kind, principal_id: str, name: str, claims: dict[str, Any]
    ) -> Principal:
        exp = claims.get("exp")
        return Principal(
            id=principal_id,
            name=str(claims.get("name") or name),
            kind=kind,
            symbols=entitlements(claims.get("symbols")),
            limits=Limits.from_mapping(claims.get("limits"), self._defaults),
            expires_at=float(exp) if isinstance(exp, int | float) else None,
        )
