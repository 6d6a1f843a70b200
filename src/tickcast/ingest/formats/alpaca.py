"""Alpaca market data v2: stream messages and historical REST pages.

Stream (https://docs.alpaca.markets/docs/real-time-stock-pricing-data): trades `T:"t"`,
quotes `"q"`, minute bars `"b"`, updated bars `"u"` (a late trade changed a minute bar;
same `t`: the tick gets `revision=1` so features replaces the bar of that start instead
of adding a second one), daily bars `"d"`. Frames are JSON arrays. `success` and
`subscription` are acknowledgements and are skipped; `error` is rejected as
`vendor_error`. Other types (statuses, LULDs, imbalances, crypto orderbooks `"o"`) are
rejected as `unsupported_message`.

Cancels/errors `"x"` (fields i, x, p, s, a, z, t; `a` is "C" cancel or "E" error) and
corrections `"c"` (x, oi, op, os, oc, ci, cp, cs, cc, z, t) are undocumented on the
stream page; their shapes are those of the SIP messages Alpaca forwards
(https://forum.alpaca.markets/t/message-type-c/8116,
https://forum.alpaca.markets/t/what-is-a-type-x-message/7820) and of alpaca-py's
`TradeCancel` / `TradeCorrection` models (alpaca/data/models/trades.py,
https://github.com/alpacahq/alpaca-py). A cancel becomes a tick `kind="cancel"`, a
correction `kind="correct"` with the corrected price `cp`, size `cs`, conditions `cc`
and flags from `cc`; both name the trade they amend in `ref`. Features applies them to a
bar still open and dead-letters the rest (`correction_not_applied`).

The crypto stream (https://docs.alpaca.markets/docs/real-time-crypto-pricing-data) has the
same trade, quote and bar shapes without exchange, tape and conditions, with fractional
sizes and symbols like `BTC/USD` (normalised to `BTC-USD`).

Historical (https://docs.alpaca.markets/reference/stockbars and .../stocktrades):
`{"bars": {"AAPL": [...]}, "next_page_token": ...}` (many symbols) or
`{"bars": [...], "symbol": "AAPL", ...}` (one); the same with `trades` and `quotes`.

Timestamps are RFC-3339 with up to nine fractional digits, parsed to epoch ns without a
float. Quote sizes are whatever Alpaca sends (round lots on the SIP feed). Bar ticks are
stamped with the bar's start, as Alpaca labels them; `bar_s` is 60 for `b`/`u`, 86400 for
`d`, and for REST the `timeframe` hint when the publisher adds one (`1Min`, `5Min`,
`1Hour`, `1Day`, `1Week`), else the smallest gap between the page's bars.

Trades carry `flags` from their conditions `c` and tape `z` (conditions.py, Alpaca's
table), `seq` = the trade id `i` (orders trades with the same time), and `ref` =
`alpaca:SYM:EXCHANGE:TRADEID`, the key a cancel (`i`, `x`) or correction (`oi`, `x`)
of that trade computes too.

Ids: a trade is `alpaca:t:SYM:EXCHANGE:TRADEID@TS` (trade ids restart every session, the
event time keeps them unique, and a stream trade and the same trade from REST agree); a
cancel `alpaca:x:SYM:EXCHANGE:TRADEID@TS`, a correction
`alpaca:c:SYM:EXCHANGE:ORIGINAL>CORRECTED@TS`; quotes and bars have no vendor id and get a
content hash.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal, Self, TypeAlias

from pydantic import (
    BeforeValidator,
    Discriminator,
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
    Parsed,
    Price,
    Rejected,
    RfcTime,
    Size,
    Symbol,
    VendorModel,
    bar_error,
    bar_seconds,
    content_id,
    mid,
    parse_json,
    refuse,
    rejected,
    stream_batch,
    validate_many,
)
from tickcast.ingest.formats.conditions import alpaca_flags
from tickcast.schema import Tick, Unchecked

# --- stream ----------------------------------------------------------------------------------


class _TradeFields(VendorModel):
    i: int | None = None
    x: str | None = None
    p: Price
    s: Size = 0.0  # crypto sizes are fractional
    t: RfcTime
    c: tuple[str, ...] | None = None
    z: str | None = None


class _QuoteFields(BidAsk):
    bx: str | None = None
    ax: str | None = None
    t: RfcTime
    c: tuple[str, ...] | None = None
    z: str | None = None


def _no_trades_vwap(v: object) -> object:
    # A crypto bar without trades carries quote mid prices, volume 0 and `vw` 0
    # (https://docs.alpaca.markets/docs/real-time-crypto-pricing-data, "Crypto bars contain
    # quote mid-prices"): there is no VWAP, not a VWAP of 0.
    return None if v == 0 and not isinstance(v, bool) else v


Vwap = Annotated[Price | None, BeforeValidator(_no_trades_vwap)]


class _BarFields(VendorModel):
    o: Price
    h: Price
    l: Price  # noqa: E741 - Alpaca's field name
    c: Price
    v: Size
    vw: Vwap = None
    n: Count | None = None
    t: RfcTime

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bar_error(self.o, self.h, self.l, self.c)
        return self


class Trade(_TradeFields):
    T: Literal["t"]
    S: Symbol


class Quote(_QuoteFields):
    T: Literal["q"]
    S: Symbol


class Bar(_BarFields):
    T: Literal["b", "u", "d"]
    S: Symbol


class Cancel(VendorModel):
    """A cancel ("C") or error ("E") of an earlier trade, repeating its id, price and size."""

    T: Literal["x"]
    S: Symbol
    i: int
    x: str | None = None
    p: Price
    s: Size = 0.0
    a: str | None = None
    z: str | None = None
    t: RfcTime


class Correction(VendorModel):
    """A correction of an earlier trade: the original (`o*`) and corrected (`c*`) values."""

    T: Literal["c"]
    S: Symbol
    x: str | None = None
    oi: int
    op: Price | None = None
    os: Size | None = None
    oc: tuple[str, ...] | None = None
    ci: int | None = None
    cp: Price
    cs: Size = 0.0
    cc: tuple[str, ...] | None = None
    z: str | None = None
    t: RfcTime


class Control(VendorModel):
    T: Literal["success", "subscription"]


class VendorError(VendorModel):
    T: Literal["error"]
    code: int | None = None
    msg: str = ""

    @model_validator(mode="after")
    def _always(self) -> Self:
        raise PydanticCustomError(
            "vendor_error", "Alpaca error {code}: {msg}", {"code": self.code, "msg": self.msg}
        )


# --- historical REST -------------------------------------------------------------------------

_TIMEFRAME = re.compile(r"(\d+)(Min|T|Hour|H|Day|D|Week|W)")
_UNIT_S: Final = {
    **dict.fromkeys(("Min", "T"), 60),
    **dict.fromkeys(("Hour", "H"), 3600),
    **dict.fromkeys(("Day", "D"), 86_400),
    **dict.fromkeys(("Week", "W"), 604_800),
}


def _timeframe_s(tf: str | None) -> int | None:
    m = _TIMEFRAME.fullmatch(tf) if tf else None
    return int(m[1]) * _UNIT_S[m[2]] if m and int(m[1]) > 0 else None


class _RestPage(VendorModel):
    """Many symbols: {KEY: {SYM: [...]}}; one symbol: {KEY: [...], "symbol": SYM}."""

    KEY: ClassVar[str]
    symbol: Symbol | None = None

    def by_symbol(self) -> dict[str, list[Any]]:
        items = getattr(self, self.KEY)
        if isinstance(items, list):
            return {self.symbol: items} if self.symbol else {}
        return {sym: group or [] for sym, group in (items or {}).items()}

    @model_validator(mode="after")
    def _symbol_given(self) -> Self:
        if isinstance(getattr(self, self.KEY), list) and self.symbol is None:
            raise PydanticCustomError("invalid_message", "a one-symbol page needs 'symbol'", {})
        return self


class RestBars(_RestPage):
    KEY = "bars"
    bars: dict[Symbol, list[_BarFields] | None] | list[_BarFields] | None = None
    timeframe: str | None = None  # a publisher's hint; Alpaca does not echo it


class RestTrades(_RestPage):
    KEY = "trades"
    trades: dict[Symbol, list[_TradeFields] | None] | list[_TradeFields] | None = None


class RestQuotes(_RestPage):
    KEY = "quotes"
    quotes: dict[Symbol, list[_QuoteFields] | None] | list[_QuoteFields] | None = None


_REST_KEYS: Final = ("bars", "trades", "quotes")
_TYPES: Final = frozenset({"t", "q", "b", "u", "d", "x", "c", "success", "subscription", "error"})


def _tag(v: Any) -> str | None:
    if not isinstance(v, dict):
        return None
    t = v.get("T")
    if isinstance(t, str):
        return t if t in _TYPES else "other"
    if t is None:
        return next((k for k in _REST_KEYS if k in v), None)
    return None


Message: TypeAlias = Annotated[
    Annotated[Trade, Tag("t")]
    | Annotated[Quote, Tag("q")]
    | Annotated[Bar, Tag("b")]
    | Annotated[Bar, Tag("u")]
    | Annotated[Bar, Tag("d")]
    | Annotated[Cancel, Tag("x")]
    | Annotated[Correction, Tag("c")]
    | Annotated[Control, Tag("success")]
    | Annotated[Control, Tag("subscription")]
    | Annotated[VendorError, Tag("error")]
    | Annotated[
        Any,
        PlainValidator(
            refuse("unsupported_message", "Alpaca message type {what} is not ingested", "T")
        ),
        Tag("other"),
    ]
    | Annotated[RestBars, Tag("bars")]
    | Annotated[RestTrades, Tag("trades")]
    | Annotated[RestQuotes, Tag("quotes")],
    Discriminator(
        _tag,
        custom_error_type="invalid_message",
        custom_error_message="not an Alpaca message: no 'T' and no bars/trades/quotes",
    ),
]

# --- ticks -----------------------------------------------------------------------------------

_BAR_S: Final = {"b": 60, "u": 60, "d": 86_400}
# `u` re-sends a minute bar a late trade changed (same start): a revision of that bar.
# https://forum.alpaca.markets/t/alpaca-market-data-update-bars/8947
_REVISION: Final = {"u": 1}


_TICK: Final = Unchecked(Tick)


def trade_ref(sym: str, exchange: str | None, trade_id: int | None) -> str | None:
    """The key of a trade that its cancel or correction names too (no time: they carry the
    original id and exchange, and features keeps only open bars' trades by this key)."""
    return None if trade_id is None else f"alpaca:{sym}:{exchange or '-'}:{trade_id}"


def _trade(sym: str, m: _TradeFields) -> Tick:
    if m.i is not None:
        key = f"alpaca:t:{sym}:{m.x or '-'}:{m.i}@{m.t}"
    else:
        key = content_id(f"alpaca:t:{sym}", m.t, m.p, m.s, m.x, m.c, m.z)
    # Unchecked: every value comes from the validated vendor model (schema.Unchecked).
    return _TICK(
        {
            "ts": m.t,
            "price": m.p,
            "size": m.s,
            "kind": "trade",
            "source": "alpaca",
            "id": key,
            "conditions": m.c or (),
            "exchange": m.x,
            # Trade ids are positive and increase within a session: they order equal times.
            "seq": m.i if m.i is not None and m.i >= 0 else None,
            "flags": alpaca_flags(m.c, m.z),
            "ref": trade_ref(sym, m.x, m.i),
        }
    )


def _cancel(sym: str, m: Cancel) -> Tick:
    return Tick(
        ts=m.t,
        price=m.p,
        size=m.s,
        kind="cancel",
        source="alpaca",
        id=f"alpaca:x:{sym}:{m.x or '-'}:{m.i}@{m.t}",
        conditions=(m.a,) if m.a else (),
        exchange=m.x,
        ref=trade_ref(sym, m.x, m.i),
    )


def _correct(sym: str, m: Correction) -> Tick:
    return Tick(
        ts=m.t,
        price=m.cp,
        size=m.cs,
        kind="correct",
        source="alpaca",
        id=f"alpaca:c:{sym}:{m.x or '-'}:{m.oi}>{m.ci if m.ci is not None else '-'}@{m.t}",
        conditions=m.cc or (),
        exchange=m.x,
        flags=alpaca_flags(m.cc, m.z),
        ref=trade_ref(sym, m.x, m.oi),
    )


def _quote(sym: str, m: _QuoteFields) -> Tick:
    return _TICK(  # unchecked, as a trade: `mid` of two valid prices is a valid price
        {
            "ts": m.t,
            "price": mid(m.bp, m.ap),
            "size": 0.0,
            "kind": "quote",
            "source": "alpaca",
            "id": content_id(f"alpaca:q:{sym}", m.t, m.bp, m.bs, m.ap, m.as_, m.bx, m.ax, m.c, m.z),
            "conditions": m.c or (),
            "bid": m.bp,
            "ask": m.ap,
            "bid_size": m.bs,
            "ask_size": m.as_,
        }
    )


def _bar(sym: str, m: _BarFields, bar_s: int | None, revision: int | None = None) -> Tick:
    return Tick(
        ts=m.t,
        price=m.c,
        size=m.v,
        kind="bar",
        source="alpaca",
        id=content_id(f"alpaca:bar:{sym}", m.t, bar_s, m.o, m.h, m.l, m.c, m.v, m.vw, m.n),
        open=m.o,
        high=m.h,
        low=m.l,
        vwap=m.vw,
        trades=m.n,
        bar_s=bar_s,
        revision=revision,
    )


def _emit_rest(key: str, sym: str, items: list[Any], hint: str | None, out: Parsed) -> None:
    if key == "bars":
        bar_s = _timeframe_s(hint) or bar_seconds([b.t for b in items])
        out.ticks.extend((sym, _bar(sym, b, bar_s)) for b in items)
    elif key == "trades":
        out.ticks.extend((sym, _trade(sym, t)) for t in items)
    else:
        out.ticks.extend((sym, _quote(sym, q)) for q in items)


def _emit(m: Any, out: Parsed, ctx: Context) -> None:
    if isinstance(m, Trade):
        out.ticks.append((m.S, _trade(m.S, m)))
    elif isinstance(m, Quote):
        out.ticks.append((m.S, _quote(m.S, m)))
    elif isinstance(m, Bar):
        out.ticks.append((m.S, _bar(m.S, m, _BAR_S[m.T], _REVISION.get(m.T))))
    elif isinstance(m, Cancel):
        out.ticks.append((m.S, _cancel(m.S, m)))
    elif isinstance(m, Correction):
        out.ticks.append((m.S, _correct(m.S, m)))
    elif isinstance(m, _RestPage):
        hint = m.timeframe if isinstance(m, RestBars) else None
        for sym, items in m.by_symbol().items():
            _emit_rest(m.KEY, sym, items, hint, out)
    else:
        out.skipped += 1  # success / subscription


_ITEMS: Final[dict[str, TypeAdapter[list[Any]]]] = {
    "bars": TypeAdapter(list[_BarFields]),
    "trades": TypeAdapter(list[_TradeFields]),
    "quotes": TypeAdapter(list[_QuoteFields]),
}
_FIELDS: Final = {
    **dict.fromkeys(("p", "bp", "ap", "o", "h", "l", "c", "vw", "op", "cp"), "invalid_price"),
    **dict.fromkeys(("s", "bs", "as", "v", "n", "os", "cs"), "invalid_size"),
}


def _explode(doc: Any, out: Parsed, ctx: Context) -> bool:
    """A REST page with bad parts: validate it symbol by symbol, element by element."""
    key = _tag(doc)
    if key not in _ITEMS:
        return False
    groups = doc[key]
    if isinstance(groups, dict):
        pairs = list(groups.items())
    elif isinstance(groups, list):
        pairs = [(doc.get("symbol"), groups)]
    else:
        return False  # the page itself is malformed: reject it whole
    hint = doc.get("timeframe") if isinstance(doc.get("timeframe"), str) else None
    for raw_sym, items in pairs:
        raw = to_json({key: items, "symbol": raw_sym})
        try:
            sym = SYMBOL.validate_python(raw_sym, strict=True)
        except ValidationError as exc:  # the whole group has no usable symbol
            out.rejected.append(rejected(exc.errors(include_url=False), raw, _FIELDS))
            continue
        if not isinstance(items, list):
            if items is not None:
                out.rejected.append(Rejected("invalid_message", f"{key}: expected a list", raw))
            continue
        good, bad = validate_many(to_json(items), _ITEMS[key], ctx)
        for item, errors in bad:
            out.rejected.append(rejected(errors, to_json(item), _FIELDS))
        _emit_rest(key, sym, good, hint, out)
    return True


FORMAT: Final = JsonFormat(
    name="alpaca",
    element=TypeAdapter(Message),
    batch=TypeAdapter(list[Message]),
    stream=stream_batch("T", Trade, Quote, Bar, Cancel, Correction, Control, VendorError),
    emit=_emit,
    fields=_FIELDS,
    explode=_explode,
    classify=detect.classify,
)


def parse(body: bytes, ctx: Context) -> Parsed:
    return parse_json(body, FORMAT, ctx)
