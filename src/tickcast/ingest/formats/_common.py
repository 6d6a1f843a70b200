"""Shared pieces of the format parsers.

Field types here do their checks inside pydantic-core (numeric bounds) or in one
small function (symbol, timestamp), and raise `PydanticCustomError` whose type
*is* the reject reason, so a validation error maps to a stable code without
guessing. `parse_json` validates a whole JSON body in one `validate_json` call
and only when something in it is bad falls back to finding which elements.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any, Final, Self, TypeAlias, Union

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError, from_json, to_json

from tickcast.errors import PermanentError
from tickcast.schema import SYMBOL_RE, Tick, normalise_symbol

# pydantic's validation context: the accepted event-time window, {"lo": ns, "hi": ns}.
Context: TypeAlias = dict[str, int]


@dataclass(frozen=True)
class Rejected:
    reason: str  # stable code, e.g. "invalid_price"
    error: str  # readable explanation naming the field
    raw: bytes  # this element's bytes


@dataclass
class Parsed:
    format: str
    ticks: list[tuple[str, Tick]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # Control messages (connected, subscribed, heartbeat): neither ticks nor errors.
    skipped: int = 0


# --- field types -------------------------------------------------------------------------


class VendorModel(BaseModel):
    """A vendor message: strict types (no "1.5" or true as a price), unknown fields ignored
    because vendors add fields over time."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


# Cached: every tick names its symbol, a feed has a bounded set of them, and a refused
# symbol raises (lru_cache keeps no exceptions) so it is checked again each time.
@lru_cache(maxsize=16_384)
def _symbol(v: str) -> str:
    # The one normaliser (schema.normalise_symbol): BTC/USD, X:BTCUSD, C:EURUSD and the
    # stream's BTC-USD name one symbol, and a Firestore id never holds a '/'.
    s = normalise_symbol(v)
    # fullmatch: SYMBOL_RE ends in '$', which would let "AAPL\n" through with .match().
    if SYMBOL_RE.fullmatch(s) is None:
        raise PydanticCustomError(
            "invalid_symbol",
            "invalid symbol {symbol}: expected e.g. AAPL, BRK.B, ^GSPC, BTC-USD",
            {"symbol": repr(v)[:40]},
        )
    return s


Symbol = Annotated[str, AfterValidator(_symbol)]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Size = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]

SYMBOL: Final = TypeAdapter(Symbol)

_NS: Final = 1_000_000_000
_DAY_NS: Final = 86_400 * _NS
_EPOCH: Final = date(1970, 1, 1)


def iso(ns: int) -> str:
    """Readable form of an epoch-ns time for error messages."""
    try:
        dt = datetime.fromtimestamp(ns // _NS, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ns)
    return f"{dt}.{ns % _NS:09d}Z"


def _in_window(ns: int, info: ValidationInfo) -> int:
    if ns <= 0:
        raise PydanticCustomError(
            "invalid_timestamp", "timestamp {ts} is not after 1970-01-01", {"ts": ns}
        )
    ctx = info.context
    if ctx is not None:
        if ns < ctx["lo"]:
            raise PydanticCustomError(
                "stale_timestamp",
                "{at} is older than the accepted window (earliest {lo})",
                {"at": iso(ns), "lo": iso(ctx["lo"])},
            )
        if ns > ctx["hi"]:
            raise PydanticCustomError(
                "future_timestamp",
                "{at} is further in the future than accepted (latest {hi})",
                {"at": iso(ns), "hi": iso(ctx["hi"])},
            )
    return ns


def _ms_in_window(ms: int, info: ValidationInfo) -> int:
    return _in_window(ms * 1_000_000, info)


# RFC 3339 as Alpaca writes it, e.g. 2021-02-22T15:51:45.335689322Z. Digits past the 9th
# are dropped: tickcast keeps nanoseconds.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


@lru_cache(maxsize=4096)
def _minute_ns(minute: str) -> int:
    """'YYYY-MM-DDTHH:MM' -> epoch ns; cached because a batch shares a handful of minutes."""
    h, m = int(minute[11:13]), int(minute[14:16])
    if h > 23 or m > 59:
        raise ValueError(minute)
    return (date.fromisoformat(minute[:10]) - _EPOCH).days * _DAY_NS + (h * 60 + m) * 60 * _NS


def rfc3339_ns(v: object) -> int:
    """RFC-3339 text -> epoch ns in integer arithmetic: a float (or datetime, which stops
    at microseconds) would lose the nanoseconds Alpaca sends."""
    # Fast path for Alpaca's own layout, 2021-02-22T15:51:45.335689322Z: the second is
    # parsed once (cached; a batch shares a few), the nine digits are added. Anything
    # else, or a second the full parse refuses, takes the full parse below.
    if isinstance(v, str) and len(v) == 30 and v[19] == "." and v[29] in "Zz":
        frac = v[20:29]
        if frac.isascii() and frac.isdigit():
            second = _second_ns(v[:19])
            if second is not None:
                return second + int(frac)
    return _rfc3339_ns(v)


@lru_cache(maxsize=4096)
def _second_ns(second: str) -> int | None:
    """'YYYY-MM-DDTHH:MM:SS' -> epoch ns, None if the full parse refuses it."""
    try:
        return _rfc3339_ns(second + "Z")
    except PydanticCustomError:
        return None


def _rfc3339_ns(v: object) -> int:
    m = _RFC3339.fullmatch(v) if isinstance(v, str) else None
    if m is None:
        raise PydanticCustomError(
            "invalid_timestamp",
            "expected an RFC-3339 timestamp like 2021-02-22T15:51:45.335689322Z, got {got}",
            {"got": repr(v)[:40]},
        )
    minute, ss, frac, sign, oh, om = m.groups()
    try:
        ns = _minute_ns(minute) + int(ss) * _NS
    except ValueError:
        raise PydanticCustomError(
            "invalid_timestamp", "{got} is not a valid date and time", {"got": repr(v)[:40]}
        ) from None
    if ss > "60":  # 60: a leap second
        raise PydanticCustomError(
            "invalid_timestamp", "{got} is not a valid date and time", {"got": repr(v)[:40]}
        )
    if frac:
        ns += int(frac) * 10 ** (9 - len(frac))
    if sign:
        offset = (int(oh) * 60 + int(om)) * 60 * _NS
        ns += -offset if sign == "+" else offset
    return ns


def _rfc3339_in_window(v: object, info: ValidationInfo) -> int:
    # Parse and window check in one Python call per timestamp, not two (a call from
    # pydantic-core costs about as much as the check): every trade and quote has one.
    return _in_window(rfc3339_ns(v), info)


RfcTime = Annotated[int, BeforeValidator(_rfc3339_in_window)]
MsTime = Annotated[int, AfterValidator(_ms_in_window)]  # epoch ms in, epoch ns out
NsTime = Annotated[int, AfterValidator(_in_window)]


def bar_error(o: float, h: float, low: float, c: float) -> None:
    """A bar whose low/high do not bracket its open and close is corrupt."""
    if not (low <= o <= h and low <= c <= h):
        raise PydanticCustomError(
            "invalid_bar",
            "bar is inconsistent: open {o}, high {h}, low {l}, close {c}",
            {"o": o, "h": h, "l": low, "c": c},
        )


def mid(bid: float, ask: float) -> float:
    """The quote's price. Halve first when the sum would overflow to inf."""
    m = (bid + ask) / 2
    return m if m != math.inf else bid / 2 + ask / 2


class BidAsk(VendorModel):
    """A vendor quote with its bid price `bp`, ask price `ap` and their sizes (Alpaca's
    and Polygon's stock and crypto quotes name them alike): never crossed."""

    bp: Price
    bs: Size = 0.0
    ap: Price
    as_: Size = Field(0.0, alias="as")

    @model_validator(mode="after")
    def _not_crossed(self) -> Self:
        crossed_error(self.bp, self.ap)
        return self


def crossed_error(bid: float, ask: float) -> None:
    if bid > ask:
        raise PydanticCustomError(
            "crossed_quote", "bid {bid} is above ask {ask}", {"bid": bid, "ask": ask}
        )


def refuse(reason: str, message: str, key: str) -> Callable[[Any], Any]:
    """A validator that always fails, for the union member of messages that are never
    ticks; `{what}` in `message` is the element's `key` field."""

    def _refuse(v: Any) -> Any:
        what = v.get(key) if isinstance(v, dict) else v
        raise PydanticCustomError(reason, message, {"what": repr(what)[:60]})

    return _refuse


# --- ids -----------------------------------------------------------------------------------


def digest(data: bytes) -> str:
    """96 bits of blake2b: accidental collisions stay out of reach."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def content_id(prefix: str, *parts: object) -> str:
    """Dedupe key from content: the same event re-sent, in any key order or spacing, gets
    the same id."""
    return f"{prefix}:{digest(orjson.dumps(parts))}"


def bar_seconds(times_ns: list[int]) -> int | None:
    """A REST page's bar length: the smallest gap between consecutive bars (gaps only grow
    when bars are missing). Gaps within an hour of a day are a day: daily bars are stamped
    at local midnight, so a DST change makes one gap 23 or 25 hours."""
    gaps = [b - a for a, b in pairwise(times_ns) if b > a]
    if not gaps:
        return None
    seconds = min(gaps) // _NS
    if abs(seconds - 86_400) <= 3_600:
        return 86_400
    return seconds or None


# --- rejects -------------------------------------------------------------------------------

REASONS: Final = frozenset(
    {
        "empty_body",
        "invalid_json",
        "unknown_format",
        "format_mismatch",
        "correction_not_applied",
        "invalid_message",
        "unsupported_message",
        "vendor_error",
        "invalid_base64",
        "invalid_protobuf",
        "invalid_symbol",
        "invalid_price",
        "invalid_size",
        "invalid_bar",
        "crossed_quote",
        "invalid_timestamp",
        "stale_timestamp",
        "future_timestamp",
    }
)
# Errors that mean "this number is out of range": the field says which reason. value_error
# is schema.Tick's own finiteness check (the tickcast format validates into Tick).
_RANGE_ERRORS: Final = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "finite_number",
        "value_error",
    }
)


def rejected(
    errors: list[ErrorDetails], raw: bytes, fields: Mapping[str, str], *, strip: int = 0
) -> Rejected:
    """One Rejected from pydantic's errors for one element. `fields` maps a field name to
    the reason a bad value there gets; `strip` drops leading loc parts (a union tag)."""
    reason = "invalid_message"
    parts: list[str] = []
    for err in errors:
        kind = err["type"]
        loc = err["loc"][strip:] if not kind.startswith("union_tag") else ()
        name = next((p for p in reversed(loc) if isinstance(p, str)), "")
        if kind in REASONS:
            code = kind
        elif kind in _RANGE_ERRORS:
            code = fields.get(name, "invalid_message")
        else:
            code = "invalid_message"
        if reason == "invalid_message":
            reason = code
        where = ".".join(str(p) for p in loc)
        text = err["msg"]
        if kind in _RANGE_ERRORS or kind.endswith("_type") or kind.endswith("_parsing"):
            text = f"{text} (got {err.get('input')!r:.40})"
        parts.append(f"{where}: {text}" if where else text)
    return Rejected(reason, "; ".join(parts[:4]), raw)


# --- the JSON engine ----------------------------------------------------------------------

Emit: TypeAlias = Callable[[Any, Parsed, Context], None]
Explode: TypeAlias = Callable[[Any, Parsed, Context], bool]


@dataclass(frozen=True)
class JsonFormat:
    """How one vendor's JSON is validated and turned into ticks."""

    name: str
    element: TypeAdapter[Any]  # one message: a tagged union of the vendor's shapes
    batch: TypeAdapter[list[Any]]  # a JSON array of them, validated in one call
    emit: Emit  # a validated element -> ticks appended to Parsed (or a skip counted)
    fields: Mapping[str, str]  # field name -> reason for an out-of-range value there
    # A failed container element (a REST page, a tickcast batch): re-validate its parts one
    # by one so the good ones still flow. Returns False if the element is no container.
    explode: Explode | None = None
    classify: Callable[[Any], str | None] | None = None  # detect.classify, for mixed bodies
    # A stream frame (a JSON array of tagged events) validated first with a discriminator
    # *field* instead of `element`'s discriminator *function*: pydantic-core then picks each
    # element's model in Rust instead of handing every element to Python as a dict (a third
    # of the validation time). Same models, same tags: a frame it accepts yields exactly
    # what `batch` would; any failure (a bad element, an unknown or untagged one) goes
    # through `batch` as before. See `stream_batch`.
    stream: TypeAdapter[list[Any]] | None = None


class _NotJson(Exception):
    def __init__(self, exc: ValidationError) -> None:
        super().__init__(exc.errors(include_url=False)[0]["msg"])


def _json_error(exc: ValidationError) -> bool:
    errors = exc.errors(include_url=False)
    return len(errors) == 1 and errors[0]["type"] == "json_invalid"


def _shift(err: ErrorDetails) -> ErrorDetails:
    shifted = err.copy()
    shifted["loc"] = err["loc"][1:]
    return shifted


def validate_many(
    raw: bytes, adapter: TypeAdapter[list[Any]], ctx: Context
) -> tuple[list[Any], list[tuple[Any, list[ErrorDetails]]]]:
    """Validate a JSON array in one call. When some elements fail, pydantic's errors say
    which (loc[0] is the index): report those with their errors and validate the rest again
    as one array, so a bad element costs one extra pass, not one call per element."""
    try:
        return adapter.validate_json(raw, context=ctx), []
    except ValidationError as exc:
        if _json_error(exc):
            raise _NotJson(exc) from None
        errors = exc.errors(include_url=False)
    items = from_json(raw)
    by_index: dict[int, list[ErrorDetails]] = {}
    for err in errors:
        loc = err["loc"]
        if not loc or not isinstance(loc[0], int) or not isinstance(items, list):
            return [], [(items, errors)]  # not an array at all
        by_index.setdefault(loc[0], []).append(_shift(err))
    bad = [(items[i], errs) for i, errs in sorted(by_index.items())]
    good = [item for i, item in enumerate(items) if i not in by_index]
    if not good:
        return [], bad
    try:
        return adapter.validate_json(to_json(good), context=ctx), bad
    except ValidationError:  # re-serialising changed something: settle it one by one
        models = []
        for item in good:
            try:
                models.extend(adapter.validate_json(to_json([item]), context=ctx))
            except ValidationError as exc:
                bad.append((item, [_shift(e) for e in exc.errors(include_url=False)]))
        return models, bad


def _failed(
    fmt: JsonFormat, item: Any, raw: bytes, errors: list[ErrorDetails], out: Parsed, ctx: Context
) -> None:
    if fmt.explode is not None and fmt.explode(item, out, ctx):
        return
    rej = rejected(errors, raw, fmt.fields, strip=1)
    if rej.reason == "invalid_message" and fmt.classify is not None:
        other = fmt.classify(item)
        if other is not None and other != fmt.name:
            rej = Rejected("format_mismatch", f"element looks like {other}, not {fmt.name}", raw)
    out.rejected.append(rej)


def stream_batch(tag: str, *models: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """JsonFormat.stream: a list of `models`, told apart by their Literal field `tag`."""
    union = Union[models]  # type: ignore[valid-type]  # noqa: UP007 - a runtime tuple of types
    return TypeAdapter(list[Annotated[union, Field(discriminator=tag)]])


def _stream(doc: bytes, fmt: JsonFormat, ctx: Context) -> list[Any] | None:
    if fmt.stream is None:
        return None
    try:
        return fmt.stream.validate_json(doc, context=ctx)
    except ValidationError:
        return None


def _document(doc: bytes, fmt: JsonFormat, ctx: Context, out: Parsed) -> None:
    if doc.lstrip()[:1] == b"[":
        models = _stream(doc, fmt, ctx)
        if models is None:
            models, bad = validate_many(doc, fmt.batch, ctx)
        else:
            bad = []
        for item, errors in bad:
            _failed(fmt, item, to_json(item), errors, out, ctx)
    else:
        try:
            models = [fmt.element.validate_json(doc, context=ctx)]
        except ValidationError as exc:
            if _json_error(exc):
                raise _NotJson(exc) from None
            _failed(fmt, from_json(doc), doc, exc.errors(include_url=False), out, ctx)
            return
    for m in models:
        fmt.emit(m, out, ctx)


def parse_json(body: bytes, fmt: JsonFormat, ctx: Context) -> Parsed:
    """One message, a JSON array of messages, or NDJSON (one message or array per line)."""
    out = Parsed(fmt.name)
    try:
        _document(body, fmt, ctx, out)
        return out
    except _NotJson as exc:
        if b"\n" not in body.strip():
            raise PermanentError("invalid_json", f"body is not JSON: {exc}") from None
    # NDJSON: the whole body was not one JSON value; each line is one.
    decoded = 0
    for n, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            _document(line, fmt, ctx, out)
            decoded += 1
        except _NotJson as exc:
            out.rejected.append(Rejected("invalid_json", f"line {n} is not JSON: {exc}", line))
    if not decoded:
        raise PermanentError("invalid_json", "body is neither JSON nor NDJSON")
    return out
