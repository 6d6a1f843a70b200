"""Polygon.io stocks: WebSocket messages and REST aggregate pages.

Stream (https://polygon.io/docs/stocks/ws_stocks_t, ..._q, ..._a, ..._am): trades
`ev:"T"`, quotes `"Q"`, second aggregates `"A"`, minute aggregates `"AM"`; frames are
JSON arrays. Times are Unix milliseconds. `status` messages are control messages and are
skipped, except failures (`auth_failed`, `max_connections`, `error`, ...: any status not
known to be benign), which are rejected as `vendor_error` so they are seen. Other event
types (LULD, NOI, FMV) are rejected as `unsupported_message`.

REST (https://polygon.io/docs/stocks/get_v2_aggs_ticker__stocksticker__range__multiplier___timespan___from___to):
`{"ticker": "AAPL", "results": [{"o","h","l","c","v","vw","t","n"}], "next_url": ...}`.
An error page (`"status": "ERROR"`, no results) is a `vendor_error`.

Bars are stamped with their start (`s`, REST `t`) as Polygon labels them; `bar_s` is 1 for
`A`, 60 for `AM`, and for REST the range in `next_url` (`/range/1/minute/`), else a
`multiplier` + `timespan` hint the publisher adds, else the smallest gap between bars.

Ids: a trade is `polygon:t:SYM:EXCHANGE:TRADEID[:TRF]@TS` (Polygon: trade ids are unique
per ticker, exchange and TRF; the time keeps a reused id from another session apart); a
quote is `polygon:q:SYM:SEQ@TS` (`q` is unique per ticker and session); aggregates get a
content hash.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal, Self, TypeAlias

from pydantic import (
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError, to_json

from tickcast.ingest.formats import detect
from tickcast.ingest.formats._common import (
    SYMBOL,
    Context,
    Count,
    JsonFormat,
    MsTime,
    Parsed,
    Price,
    Size,
    Symbol,
    VendorModel,
    bar_error,
    bar_seconds,
    content_id,
    crossed_error,
    mid,
    parse_json,
    refuse,
    rejected,
    validate_many,
)
from tickcast.schema import Tick


class Trade(VendorModel):
    ev: Literal["T"]
    sym: Symbol
    x: int | None = None
    i: str | int | None = None  # documented as a string; older feeds sent a number
    z: int | None = None
    p: Price
    s: Size = 0.0
    c: tuple[int, ...] | None = None
    t: MsTime
    q: int | None = None
    trfi: int | None = None


class Quote(VendorModel):
    ev: Literal["Q"]
    sym: Symbol
    bx: int | None = None
    bp: Price
    bs: Size = 0.0
    ax: int | None = None
    ap: Price
    as_: Size = Field(0.0, alias="as")
    c: int | None = None
    i: tuple[int, ...] | None = None
    t: MsTime
    q: int | None = None
    z: int | None = None

    @model_validator(mode="after")
    def _not_crossed(self) -> Self:
        crossed_error(self.bp, self.ap)
        return self


class _AggFields(VendorModel):
    o: Price
    h: Price
    l: Price  # noqa: E741 - Polygon's field name
    c: Price
    v: Size
    vw: Price | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bar_error(self.o, self.h, self.l, self.c)
        return self


class Aggregate(_AggFields):
    ev: Literal["A", "AM"]
    sym: Symbol
    s: MsTime  # window start
    e: int | None = None  # window end, ms
    z: float | None = None  # average trade size in the window


class Status(VendorModel):
    ev: Literal["status"]
    status: str
    message: str = ""

    @model_validator(mode="after")
    def _failure(self) -> Self:
        if self.status not in _BENIGN:
            raise PydanticCustomError(
                "vendor_error",
                "Polygon status {status}: {message}",
                {"status": self.status, "message": self.message},
            )
        return self


_BENIGN: Final = frozenset({"connected", "connecting", "auth_success", "success"})


class RestAgg(_AggFields):
    t: MsTime
    n: Count | None = None


class RestAggs(VendorModel):
    ticker: Symbol
    results: list[RestAgg] | None = None
    next_url: str | None = None
    multiplier: int | None = None  # publisher's hints: the request's range
    timespan: str | None = None


class RestError(VendorModel):
    status: str = ""
    error: str = ""
    message: str = ""

    @model_validator(mode="after")
    def _always(self) -> Self:
        raise PydanticCustomError(
            "vendor_error",
            "Polygon REST status {status}: {error}",
            {"status": self.status, "error": self.error or self.message},
        )


_EVENTS: Final = frozenset({"T", "Q", "A", "AM", "status"})


def _tag(v: Any) -> str | None:
    if not isinstance(v, dict):
        return None
    ev = v.get("ev")
    if isinstance(ev, str):
        return ev if ev in _EVENTS else "other"
    if ev is None:
        if "ticker" in v:
            return "rest"
        if "status" in v and "results" not in v:
            return "rest_error"
    return None


Message: TypeAlias = Annotated[
    Annotated[Trade, Tag("T")]
    | Annotated[Quote, Tag("Q")]
    | Annotated[Aggregate, Tag("A")]
    | Annotated[Aggregate, Tag("AM")]
    | Annotated[Status, Tag("status")]
    | Annotated[
        Any,
        PlainValidator(refuse("unsupported_message", "Polygon event {what} is not ingested", "ev")),
        Tag("other"),
    ]
    | Annotated[RestAggs, Tag("rest")]
    | Annotated[RestError, Tag("rest_error")],
    Discriminator(
        _tag,
        custom_error_type="invalid_message",
        custom_error_message="not a Polygon message: no 'ev' and no 'ticker'",
    ),
]

# --- ticks -----------------------------------------------------------------------------------

_AGG_S: Final = {"A": 1, "AM": 60}
_SPAN_S: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
_RANGE = re.compile(r"/range/(\d+)/([a-z]+)/")


def _span_s(multiplier: int | None, timespan: str | None) -> int | None:
    unit = _SPAN_S.get(timespan or "")
    return multiplier * unit if unit and multiplier and multiplier > 0 else None


def _range_s(next_url: object, multiplier: object, timespan: object) -> int | None:
    """The bar length a page states: its next_url's range, else the publisher's hint."""
    m = _RANGE.search(next_url) if isinstance(next_url, str) else None
    if m:
        return _span_s(int(m[1]), m[2])
    if isinstance(multiplier, int) and isinstance(timespan, str):
        return _span_s(multiplier, timespan)
    return None


def _trade(m: Trade) -> Tick:
    if m.i is not None:
        trf = f":{m.trfi}" if m.trfi is not None else ""
        key = f"polygon:t:{m.sym}:{m.x}:{m.i}{trf}@{m.t}"
    else:
        key = content_id(f"polygon:t:{m.sym}", m.t, m.p, m.s, m.x, m.c, m.q)
    return Tick(
        ts=m.t,
        price=m.p,
        size=m.s,
        kind="trade",
        source="polygon",
        id=key,
        conditions=tuple(map(str, m.c or ())),
        exchange=None if m.x is None else str(m.x),
    )


def _quote(m: Quote) -> Tick:
    if m.q is not None:
        key = f"polygon:q:{m.sym}:{m.q}@{m.t}"
    else:
        key = content_id(f"polygon:q:{m.sym}", m.t, m.bp, m.bs, m.ap, m.as_, m.bx, m.ax, m.c)
    return Tick(
        ts=m.t,
        price=mid(m.bp, m.ap),
        size=0.0,
        kind="quote",
        source="polygon",
        id=key,
        conditions=() if m.c is None else (str(m.c),),
        bid=m.bp,
        ask=m.ap,
        bid_size=m.bs,
        ask_size=m.as_,
    )


def _bar(sym: str, ts: int, m: _AggFields, bar_s: int | None, n: int | None) -> Tick:
    return Tick(
        ts=ts,
        price=m.c,
        size=m.v,
        kind="bar",
        source="polygon",
        id=content_id(f"polygon:bar:{sym}", ts, bar_s, m.o, m.h, m.l, m.c, m.v, m.vw, n),
        open=m.o,
        high=m.h,
        low=m.l,
        vwap=m.vw,
        trades=n,
        bar_s=bar_s,
    )


def _emit_rest(sym: str, items: list[RestAgg], bar_s: int | None, out: Parsed) -> None:
    bar_s = bar_s or bar_seconds([a.t for a in items])
    out.ticks.extend((sym, _bar(sym, a.t, a, bar_s, a.n)) for a in items)


def _emit(m: Any, out: Parsed, ctx: Context) -> None:
    if isinstance(m, Trade):
        out.ticks.append((m.sym, _trade(m)))
    elif isinstance(m, Quote):
        out.ticks.append((m.sym, _quote(m)))
    elif isinstance(m, Aggregate):
        out.ticks.append((m.sym, _bar(m.sym, m.s, m, _AGG_S[m.ev], None)))
    elif isinstance(m, RestAggs):
        _emit_rest(m.ticker, m.results or [], _range_s(m.next_url, m.multiplier, m.timespan), out)
    else:
        out.skipped += 1  # a benign status


_RESULTS: Final = TypeAdapter(list[RestAgg])
_FIELDS: Final = {
    **dict.fromkeys(("p", "bp", "ap", "o", "h", "l", "c", "vw"), "invalid_price"),
    **dict.fromkeys(("s", "bs", "as", "v", "n", "z"), "invalid_size"),
}


def _explode(doc: Any, out: Parsed, ctx: Context) -> bool:
    """A REST page with bad bars: validate it bar by bar."""
    if _tag(doc) != "rest" or not isinstance(doc.get("results"), list):
        return False
    try:
        sym = SYMBOL.validate_python(doc["ticker"], strict=True)
    except ValidationError:
        return False  # no usable symbol: reject the page whole
    good, bad = validate_many(to_json(doc["results"]), _RESULTS, ctx)
    for item, errors in bad:
        out.rejected.append(rejected(errors, to_json(item), _FIELDS))
    hint = _range_s(doc.get("next_url"), doc.get("multiplier"), doc.get("timespan"))
    _emit_rest(sym, good, hint, out)
    return True


FORMAT: Final = JsonFormat(
    name="polygon",
    element=TypeAdapter(Message),
    batch=TypeAdapter(list[Message]),
    emit=_emit,
    fields=_FIELDS,
    explode=_explode,
    classify=detect.classify,
)


def parse(body: bytes, ctx: Context) -> Parsed:
    return parse_json(body, FORMAT, ctx)
