"""Yahoo Finance streamer frames: base64-encoded protobuf `PricingData` (yahoo_pricing.proto).

A body is bare base64 text (one frame per line), the newer JSON envelope
`{"type": "pricing", "message": "<base64>"}`, a JSON string, or a JSON array / NDJSON of
those. Yahoo documents none of it; the schema and the golden frame in the tests come from
the yfinance project (https://github.com/ranaroussi/yfinance, yfinance/pricing.proto and
tests/test_live.py).

Each frame is one "trade" tick: `price` is the last price, `time` its epoch ms.
Prices are float32 on the wire; tickcast keeps the shortest decimal that is the same
float32 (94745.08, not 94745.078125), which is the number Yahoo meant.

Size policy: a frame carries `day_volume`, a running total for the day, not a trade size,
and differencing it would need per-symbol state that ingest does not keep. So `size` is
`last_size` when the frame has one below `day_volume` (or has no `day_volume`), else 0.
The bound matters: on crypto frames Yahoo fills `last_size` with the 24-hour volume
(equal to `day_volume`), which is no trade size. The price of this rule is a size of 0 for
the first trade of a day, where the two are legitimately equal.

`bid`/`ask` (with their sizes) are kept when both are positive and not crossed. Frames of
quote type HEARTBEAT are skipped. The id is `yahoo:t:SYM:` + a hash of the decoded
protobuf bytes (Yahoo has no event id). A reject's `raw` is the frame's base64 text.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Annotated, Any, Final, TypeAlias

from google.protobuf.message import DecodeError
from pydantic import AfterValidator, Discriminator, Tag, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from tickcast.errors import PermanentError
from tickcast.ingest.formats import detect
from tickcast.ingest.formats._common import (
    Context,
    JsonFormat,
    MsTime,
    Parsed,
    Price,
    Rejected,
    Size,
    Symbol,
    VendorModel,
    digest,
    parse_json,
    rejected,
)
from tickcast.ingest.formats.yahoo_pricing_pb2 import PricingData
from tickcast.schema import Tick


def _pricing(v: str) -> str:
    if v != "pricing":
        raise PydanticCustomError(
            "unsupported_message", "Yahoo message type {type} is not ingested", {"type": repr(v)}
        )
    return v


class Envelope(VendorModel):
    type: Annotated[str, AfterValidator(_pricing)]
    message: str


class Frame(VendorModel):
    """The PricingData fields a tick needs, checked like every other vendor's."""

    id: Symbol
    price: Price
    time: MsTime
    last_size: Size
    day_volume: int


def _tag(v: Any) -> str | None:
    return "frame" if isinstance(v, str) else "envelope" if isinstance(v, dict) else None


Message: TypeAlias = Annotated[
    Annotated[str, Tag("frame")] | Annotated[Envelope, Tag("envelope")],
    Discriminator(
        _tag,
        custom_error_type="invalid_message",
        custom_error_message="not a Yahoo frame: expected base64 text or a pricing envelope",
    ),
]

_F32: Final = struct.Struct("<f")
_FRAME: Final = TypeAdapter(Frame)
_FIELDS: Final = {"price": "invalid_price", "last_size": "invalid_size"}


def _f32(x: float) -> float:
    """The shortest decimal that is the same float32 as `x`."""
    for digits in range(6, 10):
        y = float(f"{x:.{digits}g}")
        try:
            if _F32.unpack(_F32.pack(y))[0] == x:
                return y
        except OverflowError:  # rounded past float32's largest value
            continue
    return x


def _book(pd: PricingData) -> tuple[float, float, float, float] | None:
    """(bid, ask, bid size, ask size) when the frame has a usable, uncrossed book."""
    bid, ask = _f32(pd.bid), _f32(pd.ask)
    if 0 < bid <= ask and math.isfinite(ask) and pd.bid_size >= 0 and pd.ask_size >= 0:
        return bid, ask, float(pd.bid_size), float(pd.ask_size)
    return None


def frame(text: str, out: Parsed, ctx: Context) -> bool:
    """Decode, validate and emit one base64 frame; a bad one is rejected with its text.
    False when the frame did not even decode."""
    raw = text.encode("utf-8", "replace")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        out.rejected.append(Rejected("invalid_base64", f"frame is not base64: {exc}", raw))
        return False
    try:
        pd = PricingData.FromString(data)
    except DecodeError as exc:
        out.rejected.append(Rejected("invalid_protobuf", f"frame is not PricingData: {exc}", raw))
        return False
    if pd.quote_type == PricingData.HEARTBEAT:
        out.skipped += 1
        return True
    fields = {
        "id": pd.id,
        "price": _f32(pd.price),
        "time": pd.time,
        "last_size": pd.last_size,
        "day_volume": pd.day_volume,
    }
    try:
        f = _FRAME.validate_python(fields, context=ctx)
    except ValidationError as exc:
        out.rejected.append(rejected(exc.errors(include_url=False), raw, _FIELDS))
        return True
    size = f.last_size if f.day_volume <= 0 or f.last_size < f.day_volume else 0.0
    book = _book(pd)
    out.ticks.append(
        (
            f.id,
            Tick(
                ts=f.time,
                price=f.price,
                size=size,
                kind="trade",
                source="yahoo",
                id=f"yahoo:t:{f.id}:{digest(data)}",
                exchange=pd.exchange or None,
                bid=book and book[0],
                ask=book and book[1],
                bid_size=book and book[2],
                ask_size=book and book[3],
            ),
        )
    )
    return True


def _emit(m: Any, out: Parsed, ctx: Context) -> None:
    frame(m if isinstance(m, str) else m.message, out, ctx)


FORMAT: Final = JsonFormat(
    name="yahoo",
    element=TypeAdapter(Message),
    batch=TypeAdapter(list[Message]),
    emit=_emit,
    fields={},
    classify=detect.classify,
)


def parse(body: bytes, ctx: Context) -> Parsed:
    if body.lstrip()[:1] in (b"{", b"[", b'"'):
        return parse_json(body, FORMAT, ctx)
    out = Parsed("yahoo")
    decoded = False
    for line in body.split():  # frames never contain whitespace; one per line
        decoded = frame(line.decode("ascii", "replace"), out, ctx) or decoded
    if not decoded:  # nothing in the body is a frame: the whole message is bad
        raise PermanentError(out.rejected[0].reason, out.rejected[0].error)
    return out
