"""Which format a raw body is in, from its shape (the `format` attribute is optional).

Only the first message is looked at, and only as far as a bounded prefix: pydantic-core
parses a truncated prefix (`allow_partial`), so detection costs the same for a batch of
ten thousand as for one. The rules, in order:

- a JSON string, or bare base64 text              -> yahoo (a streamer frame)
- `ev`                                             -> polygon (every stream event: stocks
                                                      T/Q/A/AM, crypto XT/XQ/XA/XAS, forex
                                                      C/CA/CAS; its LULD/NOI carry `T` too)
- `T`                                              -> alpaca (stream: stocks and crypto,
                                                      cancels `x`, corrections `c`)
- `symbol` with `ts` or `ticks`                    -> tickcast (a tick, or a ticks message)
- `type` with `message`                            -> yahoo (the JSON pricing envelope)
- `bars`, `trades` or `quotes`                     -> alpaca (historical REST page)
- `ticker`, `results` or `request_id`              -> polygon (REST aggregates or trades page)
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic_core import from_json

from tickcast.errors import PermanentError

_PREFIX: Final = 4096
_BASE64: Final = re.compile(rb"[A-Za-z0-9+/=_\-\s]+")


def classify(doc: Any) -> str | None:
    """The format of one decoded message, or None if it has no known shape."""
    if isinstance(doc, str):
        return "yahoo"
    if not isinstance(doc, dict):
        return None
    if "ev" in doc:
        return "polygon"
    if "T" in doc:
        return "alpaca"
    if "symbol" in doc and ("ts" in doc or "ticks" in doc):
        return "tickcast"
    if "type" in doc and "message" in doc:
        return "yahoo"
    if "bars" in doc or "trades" in doc or "quotes" in doc:
        return "alpaca"
    if "ticker" in doc or "results" in doc or "request_id" in doc:
        return "polygon"
    return None


def _first(doc: Any) -> Any:
    return doc[0] if isinstance(doc, list) and doc else doc


def detect(body: bytes) -> str | None:
    """The body's format, or None when its shape is unknown. Raises PermanentError
    ("invalid_json") for a body that starts like JSON but no line of it parses."""
    body = body.lstrip()
    head = body[:1]
    if head == b'"':
        return "yahoo"
    if head not in (b"{", b"["):
        return "yahoo" if head and _BASE64.fullmatch(body[:_PREFIX].rstrip()) else None
    # allow_partial also stops at the end of the first value, so NDJSON works too.
    try:
        found = _classify_json(body[:_PREFIX])
        if found is not None or len(body) <= _PREFIX:
            return found
    except ValueError:  # maybe a multi-byte character cut by the prefix
        if len(body) <= _PREFIX:
            return _classify_lines(body)
    try:
        return _classify_json(body)
    except ValueError:
        return _classify_lines(body)


def _classify_json(text: bytes) -> str | None:
    return classify(_first(from_json(text, allow_partial=True)))


def _classify_lines(body: bytes) -> str | None:
    # A bad first line of NDJSON: the format of the first line that parses.
    for line in body.splitlines()[1:64]:
        try:
            return _classify_json(line)
        except ValueError:
            continue
    raise PermanentError("invalid_json", "body starts like JSON but does not parse")
