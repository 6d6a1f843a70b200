"""tickcast's own normalised JSON (format `tickcast`).

A tick with its symbol, `{"symbol": "AAPL", "ts": <epoch ns>, "price": ..., "size": ...,
"kind": ...}` (every other field is a `schema.Tick` field), or a ticks message as on
tickcast-ticks, `{"v": 1, "symbol": "AAPL", "ticks": [...]}` (`batch` and `trace` may
be present and are not used). Ticks follow `schema.Tick` exactly, unknown fields
rejected, plus the timestamp window and bid <= ask. A tick without an `id` gets
`tickcast:KIND:SYM:` + a hash of its content.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Self, TypeAlias

import orjson
from pydantic import ConfigDict, Discriminator, Tag, TypeAdapter, ValidationError, model_validator
from pydantic_core import to_json

from tickcast.ingest.formats import detect
from tickcast.ingest.formats._common import (
    SYMBOL,
    Context,
    JsonFormat,
    NsTime,
    Parsed,
    Symbol,
    VendorModel,
    crossed_error,
    digest,
    parse_json,
    rejected,
    validate_many,
)
from tickcast.schema import Tick


class WindowTick(Tick):
    """A wire Tick, strictly typed, inside the timestamp window and not crossed."""

    model_config = ConfigDict(strict=True)
    ts: NsTime

    @model_validator(mode="after")
    def _not_crossed(self) -> Self:
        if self.bid is not None and self.ask is not None:
            crossed_error(self.bid, self.ask)
        return self


class SymbolTick(WindowTick):
    symbol: Symbol


class TicksBatch(VendorModel):
    v: Literal[1]
    symbol: Symbol
    ticks: list[WindowTick]


def _tag(v: Any) -> str | None:
    if not isinstance(v, dict):
        return None
    return "batch" if "ticks" in v else "tick"


Message: TypeAlias = Annotated[
    Annotated[SymbolTick, Tag("tick")] | Annotated[TicksBatch, Tag("batch")],
    Discriminator(
        _tag,
        custom_error_type="invalid_message",
        custom_error_message="not a tickcast tick or ticks message",
    ),
]


_SORTED: Final = orjson.OPT_SORT_KEYS
# As the vendor formats' ids. Every schema.TickKind needs an entry: a missing one raises
# KeyError, which the push turns into a retry loop instead of a tick or a reject.
_KIND: Final = {"trade": "t", "quote": "q", "bar": "bar", "cancel": "x", "correct": "c"}


def _tick(sym: str, t: WindowTick) -> tuple[str, Tick]:
    fields = t.model_dump(exclude={"symbol"})
    if not fields["id"]:
        content = {k: v for k, v in fields.items() if k != "id"}
        kind = _KIND[t.kind]
        fields["id"] = f"tickcast:{kind}:{sym}:{digest(orjson.dumps(content, option=_SORTED))}"
    return sym, Tick.model_validate(fields)


def _emit(m: Any, out: Parsed, ctx: Context) -> None:
    if isinstance(m, SymbolTick):
        out.ticks.append(_tick(m.symbol, m))
    else:
        out.ticks.extend(_tick(m.symbol, t) for t in m.ticks)


_TICKS: Final = TypeAdapter(list[WindowTick])
_FIELDS: Final = {
    **dict.fromkeys(("price", "bid", "ask", "open", "high", "low", "vwap"), "invalid_price"),
    **dict.fromkeys(("size", "bid_size", "ask_size", "trades"), "invalid_size"),
    "ts": "invalid_timestamp",
}


def _explode(doc: Any, out: Parsed, ctx: Context) -> bool:
    """A ticks message with bad ticks: validate it tick by tick."""
    if _tag(doc) != "batch" or doc.get("v") != 1 or not isinstance(doc["ticks"], list):
        return False
    try:
        sym = SYMBOL.validate_python(doc.get("symbol"), strict=True)
    except ValidationError:
        return False  # no usable symbol: reject the message whole
    good, bad = validate_many(to_json(doc["ticks"]), _TICKS, ctx)
    for item, errors in bad:
        out.rejected.append(rejected(errors, to_json(item), _FIELDS))
    out.ticks.extend(_tick(sym, t) for t in good)
    return True


FORMAT: Final = JsonFormat(
    name="tickcast",
    element=TypeAdapter(Message),
    batch=TypeAdapter(list[Message]),
    emit=_emit,
    fields=_FIELDS,
    explode=_explode,
    classify=detect.classify,
)


def parse(body: bytes, ctx: Context) -> Parsed:
    return parse_json(body, FORMAT, ctx)
