"""Wire contract v1: the pydantic models every stage shares.

Models validate straight from bytes (`Model.model_validate_json(data)`), never
`json.loads` then validate: one pass, and pydantic's errors name the field.

Trace keys (epoch nanoseconds, each added by the hop that owns it):
`event` exchange/event time of the newest tick, `published` when the raw
message reached Pub/Sub, `ingest`, `features`, `predict` when each stage
finished. Latency is measured from these, never guessed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

SCHEMA_VERSION = 1

# Upper-case tickers plus the punctuation real feeds use: BRK.B, ^GSPC, BTC-USD,
# EURUSD=X. No '/' (a Firestore path separator): ingest maps BTC/USD to BTC-USD.
SYMBOL_RE = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^_]{0,23}$")


# Quote currencies of crypto pairs, longest first: Polygon's REST and flat files write
# `X:BTCUSD` (no separator), its stream and Alpaca write `BTC-USD` / `BTC/USD`.
_QUOTE_CCY = ("USDT", "USDC", "USD", "EUR", "GBP", "JPY", "BTC", "ETH", "AUD", "CAD", "CHF")


def normalise_symbol(raw: str) -> str:
    """The one place a vendor's symbol becomes tickcast's: upper case, and a currency
    pair as BASE-QUOTE, so Alpaca `BTC/USD`, Polygon `X:BTCUSD`, `XT` pair `BTC-USD` and
    `C:EURUSD` / `EUR/USD` name one symbol, and a Firestore id never holds a '/'.
    The result is not validated here: callers check it against SYMBOL_RE."""
    s = raw.strip().upper()
    prefix, colon, pair = s.partition(":")
    if colon and prefix in ("X", "C") and ("-" in pair or "/" in pair):
        return pair.replace("/", "-")  # X:BTC-USD, as Polygon's crypto flat files write it
    if colon and prefix in ("X", "C") and pair.isalnum():
        if prefix == "C" and len(pair) == 6:
            return f"{pair[:3]}-{pair[3:]}"
        for ccy in _QUOTE_CCY:
            if pair.endswith(ccy) and len(pair) > len(ccy):
                return f"{pair[: -len(ccy)]}-{ccy}"
        return pair
    return s.replace("/", "-")


def _check_symbol(v: str) -> str:
    if not SYMBOL_RE.fullmatch(v):
        raise ValueError(f"invalid symbol {v!r}: expected e.g. AAPL, BRK.B, ^GSPC, BTC-USD")
    return v


Symbol = Annotated[str, AfterValidator(_check_symbol)]
# Finiteness is checked inside pydantic-core (allow_inf_nan): no Python call per field.
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Size = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Trace = dict[str, int]
# "cancel" and "correct" undo or amend an earlier trade named by `ref` (Alpaca `x`/`c`,
# Polygon trade corrections); features applies them to a bar still open and
# dead-letters them as `correction_not_applied` once the bar is published.
TickKind = Literal["trade", "quote", "bar", "cancel", "correct"]

# `flags` of a trade: which parts of a bar it may update, decided at ingest from the
# vendor's condition codes (consolidated-tape rules, see ingest/formats/conditions.py).
FLAG_HIGH_LOW = 1  # may set the bar's high and low
FLAG_LAST = 2  # may set the bar's open and close (the "last" price)
FLAG_VOLUME = 4  # counts in volume, VWAP and the trade count
FLAGS_ALL = FLAG_HIGH_LOW | FLAG_LAST | FLAG_VOLUME


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tick(_Wire):
    """One normalised market event. For a quote, `price` is the mid; for a bar, the close."""

    ts: Annotated[int, Field(gt=0)]  # event time, epoch ns
    price: Price
    size: Size = 0.0
    kind: TickKind = "trade"
    source: str = "tickcast"
    id: str = ""  # vendor id or content hash: the dedupe key
    conditions: tuple[str, ...] = ()
    exchange: str | None = None
    bid: Price | None = None
    ask: Price | None = None
    bid_size: Size | None = None
    ask_size: Size | None = None
    open: Price | None = None
    high: Price | None = None
    low: Price | None = None
    vwap: Price | None = None
    trades: Annotated[int, Field(ge=0)] | None = None
    bar_s: Annotated[int, Field(gt=0)] | None = None  # a vendor bar's length
    # Extensions of v1 (optional, absent = old behaviour):
    # the vendor's sequence number (Polygon `q`, Alpaca trade id): orders ties in `ts`.
    seq: Annotated[int, Field(ge=0)] | None = None
    # FLAG_* bits; None = every part (a trade without condition codes).
    flags: Annotated[int, Field(ge=0, le=FLAGS_ALL)] | None = None
    # A trade: its vendor key (what a cancel names); a cancel/correct: the trade it amends.
    ref: str | None = None
    # An updated vendor bar (Alpaca `u`): revises the bar of the same start, never a second bar.
    revision: Annotated[int, Field(ge=0)] | None = None


class TicksMessage(_Wire):
    """tickcast-ticks: one symbol's ticks from one raw message; ordering key = symbol."""

    v: Literal[1] = 1
    symbol: Symbol
    ticks: tuple[Tick, ...] = Field(min_length=1)
    batch: str  # deterministic id of this batch: a redelivery carries the same one
    trace: Trace = Field(default_factory=dict)


class Bar(_Wire):
    t: int  # start, epoch ms
    o: float
    h: float
    l: float  # noqa: E741 - contract field name
    c: float
    v: float
    vwap: float
    n: int


class FeaturesMessage(_Wire):
    """tickcast-features: one closed bar; `seq` is its end time in epoch ms."""

    model_config = ConfigDict(frozen=True, extra="allow")

    v: Literal[1] = 1
    symbol: Symbol
    interval_s: int
    seq: int
    bar: Bar
    features: dict[str, float | None]
    ready: bool
    reason: str | None = None  # why not ready (warming up, state lost, ...)
    trace: Trace = Field(default_factory=dict)


class Factor(TypedDict):
    """One term of a prediction's score. A TypedDict, not a model: the wire shape is the
    same object, and predict validates five of them per bar (a model each cost as much
    as the rest of a prediction; `tickcast bench predict`)."""

    name: str
    contribution: float


class Prediction(_Wire):
    model_id: str
    model_version: str
    horizon_bars: int
    p_up: float
    direction: Literal["up", "down", "flat"]
    confidence: float
    expected_return: float
    factors: tuple[Factor, ...] = ()


# -- building a model from values already of their fields' types ---------------------
#
# Validation costs 2-8 µs a model, and on two hot paths it checks nothing: predict's
# Prediction (every field computed from the model's own attributes and float
# arithmetic) and ingest's Tick of a trade or quote (every value taken from a vendor
# model pydantic has just validated against the same constraints: Price, Size,
# a positive event time, a non-negative trade id, flags from the condition table).
# `model_construct` skips validation too but loops over the fields in Python and
# costs more than validating; `Unchecked` fills the instance as validation does
# (pydantic's four instance slots; the defaults of the fields not given, in field
# order; the given names as the fields set), in under a microsecond.
# tests/unit/test_schema_unchecked.py and tests/unit/predict/test_predict_construct.py
# check the results equal validated ones (==, repr, dumps, fields set). Should
# pydantic's instance layout change, `fast` is False and every model is validated.
_SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
M = TypeVar("M", bound=BaseModel)
_new = object.__new__
_set = object.__setattr__  # the models are frozen: their own __setattr__ refuses
# Defaults of these types can be shared between instances.
_IMMUTABLE = (type(None), bool, int, float, str, tuple, type(PydanticUndefined))


class Unchecked(Generic[M]):
    """`Unchecked(Tick)(fields)`: a Tick from `fields`, each already of its field's type."""

    __slots__ = ("cls", "defaults", "fast", "validate")

    def __init__(self, cls: type[M]) -> None:
        self.cls = cls
        self.validate = cls.__pydantic_validator__.validate_python
        fields = cls.model_fields
        # Only constant defaults can be shared between instances (no default_factory).
        self.defaults = {n: f.default for n, f in fields.items() if f.default_factory is None}
        self.fast = (
            getattr(BaseModel, "__slots__", None) == _SLOTS
            and not cls.__private_attributes__
            and cls.model_config.get("extra") == "forbid"
            and len(self.defaults) == len(fields)
            and all(isinstance(d, _IMMUTABLE) for d in self.defaults.values())
        )

    def __call__(self, fields: dict[str, Any]) -> M:
        if not self.fast:
            return self.validate(fields)  # type: ignore[no-any-return]
        values = self.defaults.copy()  # field order kept: update() keeps existing keys' places
        values.update(fields)
        m = _new(self.cls)
        _set(m, "__dict__", values)
        _set(m, "__pydantic_fields_set__", set(fields))
        _set(m, "__pydantic_extra__", None)
        _set(m, "__pydantic_private__", None)
        return m
