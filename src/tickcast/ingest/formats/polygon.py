"""Polygon.io: stocks, crypto and forex WebSocket messages, REST aggregate and trade pages.

Stocks stream (https://polygon.io/docs/stocks/ws_stocks_t, ..._q, ..._a, ..._am): trades
`ev:"T"`, quotes `"Q"`, second aggregates `"A"`, minute aggregates `"AM"`.
Crypto stream (https://polygon.io/docs/crypto/ws_crypto_xt, ..._xq, ..._xa, ..._xas):
trades `"XT"`, quotes `"XQ"`, minute and second aggregates `"XA"`, `"XAS"`, keyed by
`pair` (`BTC-USD`). Forex stream (https://polygon.io/docs/forex/ws_forex_c, ..._ca,
..._cas): quotes `"C"` (`p` pair like `USD/CNH`, bid `b`, ask `a`, no sizes) and minute
and second aggregates `"CA"`, `"CAS"` (`v` counts quote updates: forex has no trades).
Field names follow the pages above and the spec Polygon's client ships
(`.polygon/websocket.json` in https://github.com/polygon-io/client-python). Frames are
JSON arrays. Times are Unix milliseconds. `status` messages are control messages and are
skipped, except failures (`auth_failed`, `max_connections`, `error`, ...: any status not
known to be benign), which are rejected as `vendor_error` so they are seen. Other event
types (LULD, NOI, FMV, crypto level 2 `XL2`) are rejected as `unsupported_message`.

REST aggregates (https://polygon.io/docs/stocks/get_v2_aggs_ticker__stocksticker__range__multiplier___timespan___from___to):
`{"ticker": "AAPL", "results": [{"o","h","l","c","v","vw","t","n"}], "next_url": ...}`;
crypto and forex pages name the pair `X:BTCUSD`, `C:EURUSD`. REST trades
(https://polygon.io/docs/stocks/get_v3_trades__stockticker): `{"results": [{"conditions",
"correction", "exchange", "id", "price", "sequence_number", "sip_timestamp", "size",
"tape", "trf_id", ...}]}`; Polygon does not echo the ticker there, so the publisher adds
`"ticker"` (a page without it is `invalid_message`). An error page (`"status": "ERROR"`,
no results) is a `vendor_error`.

Corrections and cancels. Polygon's stream carries neither: a trade message has no
correction field and there is no cancel event, so a trade Polygon later cancels stays in
tickcast's live bars. History does carry them: "all trades that occur will be included ...
even if they are later canceled. Canceled trades are indicated by the Trade Correction
field" (https://massive.com/knowledge-base/categories/trades; REST v3 `correction`, flat
files' `correction` column, https://polygon.io/docs/stocks/get_v3_trades__stockticker).
Polygon does not publish what each value means, so any non-zero `correction` is read as
"this trade did not stand": a REST trade with one becomes a tick `kind="cancel"` naming
the trade's own key in `ref`, so features takes it out of a bar still open that counted
it from the stream (and dead-letters it otherwise).

Bars are stamped with their start (`s`, REST `t`) as Polygon labels them; `bar_s` is 1 for
`A`/`XAS`/`CAS`, 60 for `AM`/`XA`/`CA`, and for REST the range in `next_url`
(`/range/1/minute/`), else a `multiplier` + `timespan` hint the publisher adds, else the
smallest gap between bars.

Stock trades carry `flags` from their condition ids (conditions.py, Polygon's consolidated
update rules; crypto trade conditions are taker sides and never restrict), `seq` = the
sequence number `q` (REST `sequence_number`; quotes too): increasing per ticker, it orders
equal millisecond times, and `ref` = `polygon:SYM:EXCHANGE:TRADEID[:TRF]`, Polygon's
unique key of a trade ("unique per ticker, exchange and TRF").

Ids: a trade is `polygon:t:SYM:EXCHANGE:TRADEID[:TRF]@TS` (the time keeps a reused id from
another session apart); a cancel `polygon:x:...` likewise; a quote is
`polygon:q:SYM:SEQ@TS` (`q` is unique per ticker and session); crypto and forex quotes and
aggregates get a content hash.
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
    BidAsk,
    Context,
    Count,
    JsonFormat,
    MsTime,
    NsTime,
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
    stream_batch,
    validate_many,
)
from tickcast.ingest.formats.conditions import polygon_stock_flags
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
    trft: int | None = None


class Quote(BidAsk):
    ev: Literal["Q"]
    sym: Symbol
    bx: int | None = None
    ax: int | None = None
    c: int | None = None
    i: tuple[int, ...] | None = None
    t: MsTime
    q: int | None = None
    z: int | None = None


class CryptoTrade(VendorModel):
    ev: Literal["XT"]
    pair: Symbol
    p: Price
    s: Size = 0.0
    t: MsTime
    c: tuple[int, ...] | None = None  # 1 sellside, 2 buyside: not sale conditions
    i: str | int | None = None  # optional; documented as an integer, once a string
    x: int | None = None
    r: int | None = None  # when Polygon received it


class CryptoQuote(BidAsk):
    ev: Literal["XQ"]
    pair: Symbol
    t: MsTime
    x: int | None = None
    r: int | None = None


class ForexQuote(VendorModel):
    ev: Literal["C"]
    p: Symbol  # the pair, e.g. USD/CNH
    x: int | str | None = None  # documented as an integer, the example sends "44"
    a: Price  # ask
    b: Price  # bid
    t: MsTime

    @model_validator(mode="after")
    def _not_crossed(self) -> Self:
        crossed_error(self.b, self.a)
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


class PairAggregate(_AggFields):
    """Crypto (`XA`, `XAS`) and forex (`CA`, `CAS`) aggregates, keyed by `pair`."""

    ev: Literal["XA", "XAS", "CA", "CAS"]
    pair: Symbol
    s: MsTime
    e: int | None = None
    z: float | None = None


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


class RestTrade(VendorModel):
    conditions: tuple[int, ...] | None = None
    correction: int | None = None
    exchange: int | None = None
    id: str | None = None
    participant_timestamp: int | None = None
    price: Price
    sequence_number: Annotated[int, Field(ge=0)] | None = None
    sip_timestamp: NsTime
    size: Size = 0.0
    tape: int | None = None
    trf_id: int | None = None
    trf_timestamp: int | None = None


class RestTrades(VendorModel):
    ticker: Symbol | None = None  # the publisher's: Polygon does not echo it
    results: list[RestTrade] | None = None
    next_url: str | None = None

    @model_validator(mode="after")
    def _ticker_given(self) -> Self:
        if self.ticker is None:
            raise PydanticCustomError(
                "invalid_message",
                "a Polygon trades page needs 'ticker' (Polygon does not echo it)",
                {},
            )
        return self


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


_EVENTS: Final = frozenset(
    {"T", "Q", "A", "AM", "XT", "XQ", "XA", "XAS", "C", "CA", "CAS", "status"}
)


def _trades_page(results: object) -> bool:
    """A v3 trades page: its rows have `price` and `sip_timestamp` (aggregate rows have
    o/h/l/c and `t`). A few rows are looked at, so one bad first row still finds it."""
    return isinstance(results, list) and any(
        isinstance(r, dict) and ("sip_timestamp" in r or "price" in r) for r in results[:8]
    )


def _tag(v: Any) -> str | None:
    if not isinstance(v, dict):
        return None
    ev = v.get("ev")
    if isinstance(ev, str):
        return ev if ev in _EVENTS else "other"
    if ev is None:
        if _trades_page(v.get("results")):
            return "rest_trades"
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
    | Annotated[CryptoTrade, Tag("XT")]
    | Annotated[CryptoQuote, Tag("XQ")]
    | Annotated[PairAggregate, Tag("XA")]
    | Annotated[PairAggregate, Tag("XAS")]
    | Annotated[ForexQuote, Tag("C")]
    | Annotated[PairAggregate, Tag("CA")]
    | Annotated[PairAggregate, Tag("CAS")]
    | Annotated[Status, Tag("status")]
    | Annotated[
        Any,
        PlainValidator(refuse("unsupported_message", "Polygon event {what} is not ingested", "ev")),
        Tag("other"),
    ]
    | Annotated[RestAggs, Tag("rest")]
    | Annotated[RestTrades, Tag("rest_trades")]
    | Annotated[RestError, Tag("rest_error")],
    Discriminator(
        _tag,
        custom_error_type="invalid_message",
        custom_error_message="not a Polygon message: no 'ev' and no 'ticker'",
    ),
]

# --- ticks -----------------------------------------------------------------------------------

_AGG_S: Final = {"A": 1, "AM": 60, "XA": 60, "XAS": 1, "CA": 60, "CAS": 1}
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


def trade_key(sym: str, exchange: object, trade_id: object, trf: object = None) -> str | None:
    """A trade's ref: Polygon's trade ids are unique per ticker, exchange and TRF
    (https://polygon.io/docs/stocks/get_v3_trades__stockticker, field `id`)."""
    if trade_id is None or trade_id == "":
        return None
    tail = f":{trf}" if trf is not None else ""
    return f"polygon:{sym}:{exchange}:{trade_id}{tail}"


def _seq(q: int | None) -> int | None:
    return q if q is not None and q >= 0 else None


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
        seq=_seq(m.q),
        flags=polygon_stock_flags(m.c),
        ref=trade_key(m.sym, m.x, m.i, m.trfi),
    )


def _crypto_trade(m: CryptoTrade) -> Tick:
    if m.i is not None:
        key = f"polygon:t:{m.pair}:{m.x}:{m.i}@{m.t}"
    else:
        key = content_id(f"polygon:t:{m.pair}", m.t, m.p, m.s, m.x, m.c)
    return Tick(
        ts=m.t,
        price=m.p,
        size=m.s,
        kind="trade",
        source="polygon",
        id=key,
        conditions=tuple(map(str, m.c or ())),
        exchange=None if m.x is None else str(m.x),
        ref=trade_key(m.pair, m.x, m.i),
    )


def rest_trade(sym: str, m: RestTrade) -> Tick:
    """A v3 trades row (or a flat-file row in the same fields): a trade, or a cancel of it
    when Polygon flags it with a non-zero `correction`."""
    cancel = bool(m.correction)
    trf = f":{m.trf_id}" if m.trf_id is not None else ""
    kind = "x" if cancel else "t"
    if m.id:
        key = f"polygon:{kind}:{sym}:{m.exchange}:{m.id}{trf}@{m.sip_timestamp}"
    else:
        key = content_id(
            f"polygon:{kind}:{sym}", m.sip_timestamp, m.price, m.size, m.exchange, m.conditions
        )
    return Tick(
        ts=m.sip_timestamp,
        price=m.price,
        size=m.size,
        kind="cancel" if cancel else "trade",
        source="polygon",
        id=key,
        conditions=tuple(map(str, m.conditions or ())),
        exchange=None if m.exchange is None else str(m.exchange),
        seq=None if cancel else m.sequence_number,
        flags=None if cancel else polygon_stock_flags(m.conditions),
        ref=trade_key(sym, m.exchange, m.id, m.trf_id),
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
        seq=_seq(m.q),
    )


def _crypto_quote(m: CryptoQuote) -> Tick:
    return Tick(
        ts=m.t,
        price=mid(m.bp, m.ap),
        size=0.0,
        kind="quote",
        source="polygon",
        id=content_id(f"polygon:q:{m.pair}", m.t, m.bp, m.bs, m.ap, m.as_, m.x),
        exchange=None if m.x is None else str(m.x),
        bid=m.bp,
        ask=m.ap,
        bid_size=m.bs,
        ask_size=m.as_,
    )


def _forex_quote(m: ForexQuote) -> Tick:
    return Tick(
        ts=m.t,
        price=mid(m.b, m.a),
        size=0.0,
        kind="quote",
        source="polygon",
        id=content_id(f"polygon:q:{m.p}", m.t, m.b, m.a, m.x),
        exchange=None if m.x is None else str(m.x),
        bid=m.b,
        ask=m.a,
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
    elif isinstance(m, CryptoTrade):
        out.ticks.append((m.pair, _crypto_trade(m)))
    elif isinstance(m, CryptoQuote):
        out.ticks.append((m.pair, _crypto_quote(m)))
    elif isinstance(m, ForexQuote):
        out.ticks.append((m.p, _forex_quote(m)))
    elif isinstance(m, PairAggregate):
        out.ticks.append((m.pair, _bar(m.pair, m.s, m, _AGG_S[m.ev], None)))
    elif isinstance(m, RestAggs):
        _emit_rest(m.ticker, m.results or [], _range_s(m.next_url, m.multiplier, m.timespan), out)
    elif isinstance(m, RestTrades):
        sym = m.ticker or ""  # the validator guarantees it
        out.ticks.extend((sym, rest_trade(sym, t)) for t in m.results or [])
    else:
        out.skipped += 1  # a benign status


_RESULTS: Final = TypeAdapter(list[RestAgg])
_TRADE_ROWS: Final = TypeAdapter(list[RestTrade])
_FIELDS: Final = {
    **dict.fromkeys(
        ("p", "bp", "ap", "o", "h", "l", "c", "vw", "a", "b", "price"), "invalid_price"
    ),
    **dict.fromkeys(("s", "bs", "as", "v", "n", "z", "size"), "invalid_size"),
    "sip_timestamp": "invalid_timestamp",
}


def _explode(doc: Any, out: Parsed, ctx: Context) -> bool:
    """A REST page with bad rows: validate it row by row."""
    tag = _tag(doc)
    if tag not in ("rest", "rest_trades") or not isinstance(doc.get("results"), list):
        return False
    try:
        sym = SYMBOL.validate_python(doc.get("ticker"), strict=True)
    except ValidationError:
        return False  # no usable symbol: reject the page whole
    if tag == "rest_trades":
        trades, bad_trades = validate_many(to_json(doc["results"]), _TRADE_ROWS, ctx)
        for item, errors in bad_trades:
            out.rejected.append(rejected(errors, to_json(item), _FIELDS))
        out.ticks.extend((sym, rest_trade(sym, t)) for t in trades)
        return True
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
    stream=stream_batch(
        "ev", Trade, Quote, CryptoTrade, CryptoQuote, ForexQuote, Aggregate, PairAggregate, Status
    ),
    emit=_emit,
    fields=_FIELDS,
    explode=_explode,
    classify=detect.classify,
)


def parse(body: bytes, ctx: Context) -> Parsed:
    return parse_json(body, FORMAT, ctx)
