"""Token verification: HS256 JWTs, Google-signed ID tokens, API keys."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt
from google.auth import jwt as google_jwt

from tickcast.bridge import apikeys, jwt_hs256
from tickcast.bridge.auth import Authenticator, KeyRing
from tickcast.bridge.google_tokens import GoogleIdVerifier
from tickcast.bridge.jwt_hs256 import TokenError
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.principal import Limits
from tickcast.config import Settings

KEY = b"k" * 32
NOW = 1_700_000_000.0


def hs(claims: dict[str, Any], key: bytes = KEY) -> str:
    return jwt_hs256.encode(claims, key)


def test_a_valid_hs256_token_decodes() -> None:
    claims = jwt_hs256.decode(
        hs({"sub": "ann", "exp": NOW + 60, "aud": "tc"}), KEY, audience="tc", now=NOW
    )
    assert claims["sub"] == "ann"


@pytest.mark.parametrize(
    ("token", "audience", "code", "needle"),
    [
        (hs({"sub": "ann", "exp": NOW + 60}, b"x" * 32), None, "unauthorized", "signature"),
        (hs({"sub": "ann", "exp": NOW - 120}), None, "token_expired", "expired"),
        (hs({"sub": "ann"}), None, "unauthorized", "expiry"),
        (hs({"sub": "ann", "exp": NOW + 600, "nbf": NOW + 300}), None, "unauthorized", "not valid"),
        (hs({"sub": "ann", "exp": NOW + 60, "aud": "other"}), "tc", "unauthorized", "audience"),
        (hs({"sub": "ann", "exp": NOW + 60}), "tc", "unauthorized", "audience"),
        (hs({"exp": NOW + 60}), None, "unauthorized", "subject"),
        ("a.b", None, "unauthorized", "malformed"),
        ("!!!.e30.sig", None, "unauthorized", "malformed"),
    ],
)
def test_bad_hs256_tokens_are_refused(
    token: str, audience: str | None, code: str, needle: str
) -> None:
    with pytest.raises(TokenError) as exc:
        jwt_hs256.decode(token, KEY, audience=audience, now=NOW)
    assert exc.value.code == code and needle in exc.value.message


def test_alg_none_and_other_algorithms_are_refused_before_the_signature() -> None:
    body = jwt_hs256._b64(b'{"sub":"ann","exp":9999999999}')
    for alg in ("none", "HS512", "RS256"):
        head = jwt_hs256._b64(b'{"alg":"' + alg.encode() + b'"}')
        with pytest.raises(TokenError, match="only HS256"):
            jwt_hs256.decode(f"{head}.{body}.", KEY, now=NOW)


class GoogleKeys:
    def __init__(self) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signer = crypt.RSASigner.from_string(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            key_id="k1",
        )
        self.certs = {
            "k1": private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        }
        self.fetches = 0

    def fetch(self) -> tuple[dict[str, str], float]:
        self.fetches += 1
        return self.certs, 3600.0

    def token(self, **over: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": "https://bridge.example",
            "sub": "1234",
            "email": "svc@proj.iam.gserviceaccount.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
            **over,
        }
        return google_jwt.encode(self.signer, claims).decode()


@pytest.fixture(scope="module")
def google() -> GoogleKeys:
    return GoogleKeys()


def verifier(
    keys: GoogleKeys, allowed: tuple[str, ...] = ("*@proj.iam.gserviceaccount.com",)
) -> GoogleIdVerifier:
    return GoogleIdVerifier("https://bridge.example", allowed, fetch=keys.fetch)


def test_a_google_id_token_for_an_allowed_identity_verifies_and_certs_are_cached(
    google: GoogleKeys,
) -> None:
    v = verifier(google)
    before = google.fetches
    for _ in range(3):
        assert v.verify(google.token())["email"] == "svc@proj.iam.gserviceaccount.com"
    assert google.fetches - before == 1


@pytest.mark.parametrize(
    ("over", "code", "needle"),
    [
        ({"aud": "https://elsewhere"}, "unauthorized", "invalid"),
        ({"email": "stranger@gmail.com"}, "unauthorized", "not allowed"),
        ({"email_verified": False}, "unauthorized", "verified email"),
        ({"iss": "https://evil.example"}, "unauthorized", "not issued by Google"),
        (
            {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
            "token_expired",
            "expired",
        ),
    ],
)
def test_bad_google_id_tokens_are_refused(
    google: GoogleKeys, over: dict[str, Any], code: str, needle: str
) -> None:
    with pytest.raises(TokenError) as exc:
        verifier(google).verify(google.token(**over))
    assert exc.value.code == code and needle in exc.value.message


def test_a_token_signed_by_another_key_is_refused(google: GoogleKeys) -> None:
    forged = GoogleKeys()
    with pytest.raises(TokenError, match="invalid"):
        verifier(google).verify(forged.token())


def test_api_keys_are_stored_as_hashes_and_match_only_their_token() -> None:
    key_id, token = apikeys.new_token()
    assert apikeys.key_id_of(token) == key_id and len(token) == 4 + 12 + 1 + 43
    doc = {"hash": apikeys.token_hash(token), "symbols": ["AAPL"], "limits": {"max_connections": 2}}
    assert token not in str(doc)
    record = apikeys.KeyRecord.from_doc(key_id, doc)
    assert record.matches(token)
    assert not record.matches(apikeys.new_token()[1])
    p = record.principal(Limits(10, 100, 5.0))
    assert (p.id, p.symbols, p.limits) == (
        f"key:{key_id}",
        frozenset({"AAPL"}),
        Limits(2, 100, 5.0),
    )
    assert "hash" not in record.public()
    assert apikeys.key_id_of("tck_short_x") is None


def test_the_keyring_reports_each_revocation_once() -> None:
    ring = KeyRing()

    def closed(batch: list[Any]) -> list[str]:
        return [key_id for key_id, _code, _msg in ring.on_batch(batch).closed]

    assert closed([("a" * 12, {"hash": "h", "revoked": False})]) == []
    assert closed([("a" * 12, {"hash": "h", "revoked": True})]) == ["a" * 12]
    assert closed([("a" * 12, {"hash": "h", "revoked": True})]) == []
    assert closed([("a" * 12, {"hash": "h", "revoked": False})]) == []  # stays revoked
    assert ring.records["a" * 12].revoked


def test_the_authenticator_routes_each_kind_of_token(google: GoogleKeys) -> None:
    source = MemorySource()
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": "h" * 32, "TICKCAST_WS_JWT_AUDIENCE": "tc"})
    auth = Authenticator(cfg, source, KeyRing(), google=verifier(google))
    key_id, token = apikeys.new_token()
    revoked_id, revoked = apikeys.new_token()
    source.put("api_keys", key_id, {"hash": apikeys.token_hash(token), "symbols": ["AAPL"]})
    source.put("api_keys", revoked_id, {"hash": apikeys.token_hash(revoked), "revoked": True})
    hs_token = jwt_hs256.encode({"sub": "ann", "aud": "tc", "exp": time.time() + 60}, b"h" * 32)

    async def scenario() -> list[tuple[str, str]]:
        got = []
        for t in (token, hs_token, google.token()):
            p = await auth.authenticate(t)
            got.append((p.kind, p.id))
        for bad in (revoked, jwt_hs256.encode({"sub": "ann", "exp": time.time() + 60}, b"h" * 32)):
            with pytest.raises(TokenError) as exc:
                await auth.authenticate(bad)
            got.append(("refused", exc.value.code))
        return got

    assert asyncio.run(scenario()) == [
        ("api_key", f"key:{key_id}"),
        ("jwt", "jwt:ann"),
        ("google", "google:svc@proj.iam.gserviceaccount.com"),
        ("refused", "revoked"),
        ("refused", "unauthorized"),  # no `aud` while TICKCAST_WS_JWT_AUDIENCE is set
    ]
    source.close()
