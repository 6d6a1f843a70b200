"""HS256 JSON Web Tokens (RFC 7519) with the standard library only.

Only HS256 is accepted: the header's `alg` is checked before anything else, so
`none` and algorithm-confusion tokens are refused. `exp` is required (a
shared-secret token without one would be valid forever), and so is `aud` when
an audience is expected (a secret shared with other services must not let
their tokens in); `nbf` is honoured. One leeway for clock skew (LEEWAY_S)
applies wherever `exp` is judged: here at decode, and by the bridge's sweep
on open connections (`expired`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

LEEWAY_S = 30


class TokenError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def header(token: str) -> dict[str, Any]:
    """The unverified header, to route a token to its verifier."""
    try:
        head = orjson.loads(_unb64(token.split(".", 1)[0]))
    except (ValueError, orjson.JSONDecodeError):
        raise TokenError("unauthorized", "malformed token") from None
    if not isinstance(head, dict):
        raise TokenError("unauthorized", "malformed token")
    return head


def encode(claims: dict[str, Any], key: bytes) -> str:
    signing_input = (
        _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"})) + "." + _b64(orjson.dumps(claims))
    )
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(sig)


def decode(
    token: str, key: bytes, *, audience: str | None = None, now: float | None = None
) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("unauthorized", "malformed token")
    if header(token).get("alg") != "HS256":
        raise TokenError("unauthorized", "only HS256 tokens are accepted")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        signature = _unb64(parts[2])
    except ValueError:
        raise TokenError("unauthorized", "malformed token") from None
    if not hmac.compare_digest(expected, signature):
        raise TokenError("unauthorized", "bad token signature")
    try:
        claims = orjson.loads(_unb64(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        raise TokenError("unauthorized", "malformed token") from None
    if not isinstance(claims, dict):
        raise TokenError("unauthorized", "malformed token")
    check_times(claims, time.time() if now is None else now)
    if audience is not None:
        aud = claims.get("aud")
        if aud is None:
            raise TokenError("unauthorized", f"token has no audience (aud); expected {audience!r}")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise TokenError("unauthorized", "token audience mismatch")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("unauthorized", "token has no subject")
    return claims


def check_times(claims: dict[str, Any], now: float) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenError("unauthorized", "token has no expiry (exp)")
    if expired(exp, now):
        raise TokenError("token_expired", "the token expired")
    if isinstance(nbf, int | float) and now + LEEWAY_S < nbf:
        raise TokenError("unauthorized", "token not valid yet")


def expired(exp: float, now: float) -> bool:
    """Past `exp` by more than the leeway: the one rule for decode and for open connections."""
    return now > exp + LEEWAY_S
