"""Vendor formats: raw message bytes -> normalised ticks (pure, no I/O).

`parse` is the one entry point the ingest stage calls. A body is one vendor
message, a JSON array of them, or NDJSON. An element that fails validation is
returned in `rejected` with its own bytes so the stage can dead-letter it while
the valid elements of the same body still flow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from tickcast.errors import PermanentError
from tickcast.schema import SYMBOL_RE, Tick


@dataclass(frozen=True)
class Rejected:
    reason: str  # stable code, e.g. "invalid_price"
    error: str  # readable explanation
    raw: bytes  # this element's bytes


@dataclass
class Parsed:
    format: str
    ticks: list[tuple[str, Tick]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse(
    body: bytes,
    fmt: str | None,
    *,
    now_ns: int,
    max_past_ns: int,
    max_future_ns: int,
) -> Parsed:
    """Minimal Alpaca-trade parser; the Ingest issue replaces this with every format."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PermanentError("invalid_json", f"body is not JSON: {exc}") from None
    items = doc if isinstance(doc, list) else [doc]
    out = Parsed(format=fmt or "alpaca")
    for item in items:
        raw = orjson.dumps(item)
        if not isinstance(item, dict) or item.get("T") != "t":
            out.rejected.append(Rejected("unsupported_message", "not an Alpaca trade", raw))
            continue
        sym = str(item.get("S", ""))
        if not SYMBOL_RE.match(sym):
            out.rejected.append(Rejected("invalid_symbol", f"invalid symbol {sym!r}", raw))
            continue
        try:
            from datetime import datetime

            ts = int(datetime.fromisoformat(str(item["t"]).replace("Z", "+00:00")).timestamp() * 1e9)
            tick = Tick(
                ts=ts,
                price=item["p"],
                size=item.get("s", 0),
                source="alpaca",
                id=str(item.get("i") or hashlib.sha1(raw).hexdigest()),
            )
        except (KeyError, ValueError) as exc:
            out.rejected.append(Rejected("invalid_message", str(exc), raw))
            continue
        if not now_ns - max_past_ns <= ts <= now_ns + max_future_ns:
            out.rejected.append(Rejected("timestamp_out_of_window", "timestamp out of window", raw))
            continue
        out.ticks.append((sym, tick))
    return out
