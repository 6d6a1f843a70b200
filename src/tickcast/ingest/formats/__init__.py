"""Vendor formats: raw message bytes -> normalised ticks (pure, no I/O).

`parse` is the one entry point the ingest stage calls. A body is one vendor message, a
JSON array of them, or NDJSON; Yahoo frames may also be bare base64 text. The `format`
attribute (`alpaca`, `polygon`, `yahoo`, `tickcast`) is optional: without it the format
is detected from the body's shape (detect.py). Each format is one module:
alpaca.py, polygon.py, yahoo.py, native.py (tickcast's own).

JSON is validated straight from bytes by pydantic, the whole body in one call. When an
element is bad, only then is the body split to find which: the bad ones come back in
`rejected`, each with its own bytes (re-serialised from the body; for Yahoo the frame's
base64 text), and the valid elements of the same body still flow. Control messages
(subscription acks, heartbeats) are neither: they are counted in `skipped`.

A body that cannot be used at all raises `PermanentError(reason, message)`; a bad element
is a `Rejected(reason, error, raw)`. Reasons are stable codes:

- `empty_body`         the body is empty or whitespace (raised)
- `invalid_json`       the body (raised) or one NDJSON line (rejected) is not JSON
- `unknown_format`     the `format` attribute is not a known format, or none was given
                       and the body has no known shape (raised)
- `format_mismatch`    the `format` attribute contradicts the body (raised), or one
                       element of a batch is in another vendor's format (rejected)
- `invalid_message`    a field is missing or of the wrong type, or the element has no
                       known shape
- `unsupported_message` a real vendor message that is not a tick (Alpaca statuses,
                       LULDs, crypto orderbooks; Polygon LULD/NOI/XL2; a Yahoo envelope
                       not "pricing")
- `correction_not_applied` not raised by the parsers any more: cancels and corrections
                       (Alpaca `x`/`c`, Polygon REST trades with a `correction`) are ticks
                       of kind `cancel`/`correct`; features dead-letters one with this
                       reason when the bar of the trade it names is already published
- `vendor_error`       the vendor reported an error (Alpaca `T:"error"`, a failed Polygon
                       status, a Polygon REST error page)
- `invalid_base64`     a Yahoo frame is not base64 (raised when no frame in the body is)
- `invalid_protobuf`   a Yahoo frame is not a PricingData (likewise)
- `invalid_symbol`     the symbol, after schema.normalise_symbol, does not match
                       schema.SYMBOL_RE
- `invalid_price`      a price is not a finite number > 0
- `invalid_size`       a size, volume or count is negative or not finite
- `invalid_bar`        a bar's low/high do not bracket its open and close
- `crossed_quote`      bid > ask
- `invalid_timestamp`  the time is unparseable or not after 1970
- `stale_timestamp`    the time is before now - max_past
- `future_timestamp`   the time is after now + max_future

Tick ids (the dedupe key) are namespaced `SOURCE:KIND:SYMBOL:KEY`; KEY is the vendor's
own id where there is one, with the event time because vendors restart ids every
session (`alpaca:t:AAPL:D:96921@1614009104208000000`, `polygon:t:MSFT:4:12345@...`,
`polygon:q:MSFT:50385480@...`), otherwise a blake2b hash of the element's content
(`alpaca:q:AMD:<hex>`, `alpaca:bar:...`, `yahoo:t:...`).

A trade also carries `ref`, its vendor key without the time (`alpaca:AAPL:D:96921`,
`polygon:MSFT:4:12345[:TRF]`): a cancel or correction names the trade it amends by the
same key. `flags` says which parts of a bar a trade may update, from its condition codes
(conditions.py); `seq` is the vendor's sequence (Polygon `q`, Alpaca trade id) for ties
in time. Symbols go through schema.normalise_symbol (BTC/USD, X:BTCUSD -> BTC-USD).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pydantic import ValidationError

from tickcast.errors import PermanentError
from tickcast.ingest.formats import alpaca, native, polygon, yahoo
from tickcast.ingest.formats._common import REASONS, Context, Parsed, Rejected
from tickcast.ingest.formats.detect import detect

__all__ = ["FORMATS", "REASONS", "Parsed", "Rejected", "parse"]

FORMATS: Final[dict[str, Callable[[bytes, Context], Parsed]]] = {
    "alpaca": alpaca.parse,
    "polygon": polygon.parse,
    "yahoo": yahoo.parse,
    "tickcast": native.parse,
}


def parse(
    body: bytes,
    fmt: str | None,
    *,
    now_ns: int,
    max_past_ns: int,
    max_future_ns: int,
) -> Parsed:
    """Parse one raw message. Raises PermanentError when the body as a whole is unusable."""
    if not body.strip():
        raise PermanentError("empty_body", "the message body is empty")
    declared = fmt.strip().lower() if fmt else None
    if declared and declared not in FORMATS:
        raise PermanentError(
            "unknown_format", f"format attribute {fmt!r} is not one of {', '.join(FORMATS)}"
        )
    detected = detect(body)
    if not declared:
        if detected is None:
            raise PermanentError(
                "unknown_format", "the body has no known shape; set the `format` attribute"
            )
        declared = detected
    elif detected is not None and detected != declared:
        raise PermanentError(
            "format_mismatch",
            f"format attribute says {declared!r} but the body looks like {detected!r}",
        )
    ctx = {"lo": now_ns - max_past_ns, "hi": now_ns + max_future_ns}
    try:
        return FORMATS[declared](body, ctx)
    except ValidationError as exc:
        # Elements are validated before a Tick is built, so this means the checks above
        # missed a case. It is still bad input: dead-letter it rather than retry forever.
        raise PermanentError("invalid_message", f"could not build a tick: {exc}") from None
