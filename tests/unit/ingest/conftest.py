"""Shared helpers for the format tests: golden vendor files and a wide time window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tickcast.ingest.formats import Parsed, parse

DATA = Path(__file__).resolve().parents[2] / "data" / "vendor"
NOW_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
# Wide enough for every documented example (2018..2025); window tests narrow it.
WIDE = {"now_ns": NOW_NS, "max_past_ns": 20 * 365 * 86_400 * 10**9, "max_future_ns": 60 * 10**9}

Parse = Callable[..., Parsed]


@pytest.fixture
def vendor() -> Callable[[str], bytes]:
    """Bytes of a golden vendor file, e.g. vendor("alpaca/stream_trade.json")."""
    return lambda name: (DATA / name).read_bytes()


@pytest.fixture
def wide() -> Parse:
    """parse() with a window that admits every golden example."""

    def _parse(body: bytes, fmt: str | None = None) -> Parsed:
        return parse(body, fmt, **WIDE)

    return _parse
