"""API keys: `tck_<key_id>_<secret>`, stored only as a SHA-256 hash.

The secret is 32 random bytes, so a fast hash is enough (nothing to brute
force); the key id in the token finds the document without scanning.
Firestore layout: `api_keys/{key_id}` = {hash, name, symbols, limits,
created_at, revoked, revoked_at}. The bridge only reads this collection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from tickcast.bridge.principal import Limits, Principal, entitlements

COLLECTION = "api_keys"
PREFIX = "tck"
_TOKEN_RE = re.compile(r"^tck_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def new_token() -> tuple[str, str]:
    """(key_id, token). The token is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(token: str) -> str | None:
    m = _TOKEN_RE.fullmatch(token)
    return m.group(1) if m else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    name: str
    hash: str
    symbols: list[str]
    limits: dict[str, float]
    created_at: dt.datetime | None
    revoked: bool

    @classmethod
    def from_doc(cls, key_id: str, doc: dict[str, Any]) -> KeyRecord:
        return cls(
            key_id=key_id,
            name=str(doc.get("name", "")),
            hash=str(doc.get("hash", "")),
            symbols=[str(s) for s in doc.get("symbols") or []],
            limits=dict(doc.get("limits") or {}),
            created_at=doc.get("created_at"),
            revoked=bool(doc.get("revoked", False)),
        )

    def matches(self, token: str) -> bool:
        return bool(self.hash) and hmac.compare_digest(self.hash, token_hash(token))

    def principal(self, fallback: Limits) -> Principal:
        return Principal(
            id=f"key:{self.key_id}",
            name=self.name or self.key_id,
            kind="api_key",
            symbols=entitlements(self.symbols),
            limits=Limits.from_mapping(self.limits, fallback),
            key_id=self.key_id,
        )

    def public(self) -> dict[str, Any]:
        """What `tickcast keys list` shows: never the hash."""
        return {
            "id": self.key_id,
            "name": self.name,
            "symbols": self.symbols,
            "limits": self.limits,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked": self.revoked,
        }


def create(db: Any, name: str, symbols: list[str], limits: Limits) -> tuple[KeyRecord, str]:
    key_id, token = new_token()
    doc = {
        "name": name,
        "hash": token_hash(token),
        "symbols": symbols,
        "limits": limits.as_dict(),
        "created_at": dt.datetime.now(dt.UTC),
        "revoked": False,
    }
    # create() fails if the id exists: a 48-bit collision must not overwrite a key.
    db.collection(COLLECTION).document(key_id).create(doc)
    return KeyRecord.from_doc(key_id, doc), token


def list_all(db: Any) -> list[KeyRecord]:
    return sorted(
        (KeyRecord.from_doc(d.id, d.to_dict() or {}) for d in db.collection(COLLECTION).stream()),
        key=lambda r: (r.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), r.key_id),
    )


def revoke(db: Any, key_id: str) -> bool:
    ref = db.collection(COLLECTION).document(key_id)
    if not ref.get().exists:
        return False
    ref.update({"revoked": True, "revoked_at": dt.datetime.now(dt.UTC)})
    return True
