"""Google-signed ID tokens (service accounts, Google sign-in) for the bridge.

Any Google identity can mint an ID token for any audience, so an audience
match alone admits strangers: the token's verified email must also be on the
TICKCAST_WS_GOOGLE_PRINCIPALS allowlist. Google's signing certificates are
fetched once and cached for their Cache-Control max-age (not once per client,
which a reconnect wave would turn into thousands of fetches).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

from tickcast.bridge.jwt_hs256 import LEEWAY_S, TokenError

CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ISSUERS = ("accounts.google.com", "https://accounts.google.com")
DEFAULT_MAX_AGE_S = 3600.0
REFETCH_MIN_S = 60.0  # an unknown key id refetches (rotation), at most this often

Certs = dict[str, str]
FetchCerts = Callable[[], tuple[Certs, float]]  # -> (kid -> PEM, max-age seconds)


def fetch_google_certs() -> tuple[Certs, float]:
    from google.auth.transport.requests import Request

    response = Request()(CERTS_URL, method="GET", timeout=5)
    if response.status != 200:
        raise TokenError("auth_unavailable", "could not fetch Google's signing certificates")
    m = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
    return orjson.loads(response.data), float(m.group(1)) if m else DEFAULT_MAX_AGE_S


def allowed(email: str, principals: Sequence[str]) -> bool:
    email = email.lower()
    for p in principals:
        p = p.lower()
        if p == email or (p.startswith("*@") and email.endswith(p[1:])):
            return True
    return False


class GoogleIdVerifier:
    def __init__(
        self,
        audience: str,
        principals: Sequence[str],
        fetch: FetchCerts = fetch_google_certs,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.audience = audience
        self.principals = tuple(principals)
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._certs: Certs = {}
        self._fresh_until = 0.0
        self._fetched_at = -REFETCH_MIN_S

    def _certs_for(self, kid: str | None) -> Certs:
        with self._lock:
            now = self._clock()
            stale = now >= self._fresh_until
            unknown = kid is not None and kid not in self._certs
            if stale or (unknown and now - self._fetched_at >= REFETCH_MIN_S):
                self._certs, max_age = self._fetch()
                self._fetched_at, self._fresh_until = now, now + max_age
            return self._certs

    def verify(self, token: str) -> dict[str, Any]:
        """Blocking (may fetch certificates): call it off the event loop."""
        try:
            kid = google_jwt.decode_header(token).get("kid")  # type: ignore[no-untyped-call]
            claims: dict[str, Any] = dict(
                google_jwt.decode(  # type: ignore[no-untyped-call]
                    token,
                    certs=self._certs_for(kid),
                    audience=self.audience,
                    clock_skew_in_seconds=LEEWAY_S,
                )
            )
        except (google_exceptions.GoogleAuthError, ValueError) as exc:
            if str(exc).startswith("Token expired"):
                raise TokenError("token_expired", "the token expired") from None
            raise TokenError("unauthorized", "invalid Google ID token") from None
        if claims.get("iss") not in ISSUERS:
            raise TokenError("unauthorized", "token not issued by Google")
        email = claims.get("email")
        if not (isinstance(email, str) and claims.get("email_verified") is True):
            raise TokenError("unauthorized", "token carries no verified email")
        if not allowed(email, self.principals):
            raise TokenError("unauthorized", f"{email} is not allowed on this bridge")
        return claims
