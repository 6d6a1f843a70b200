"""Browser origin allowlist (defence in depth: tokens, not cookies, grant access)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str]) -> bool:
    """Clients that are not browsers send no Origin; the bridge's own pages are same-origin."""
    if origin is None or "*" in allowed:
        return True
    if origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()
