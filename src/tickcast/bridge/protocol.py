"""Client -> server messages of the WebSocket protocol (validated from bytes).

Server -> client frames are plain dicts built by `frame()`; every one has a `type`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from tickcast.schema import SYMBOL_RE, Symbol, normalise_symbol

Channel = Literal["predictions", "alerts", "bars", "trades"]
CHANNELS: tuple[Channel, ...] = ("predictions", "bars", "alerts", "trades")
MAX_SYMBOLS_PER_MESSAGE = 200
MAX_TOKEN_CHARS = 8192
MAX_OPTION_CHARS = 64  # a model id or a horizon; answers echo them

# Close codes. 1xxx are RFC 6455's; 4xxx are this protocol's (RFC 6455 s7.4.2).
CLOSE_GOING_AWAY = 1001  # connection aged out before Cloud Run's request timeout: reconnect
CLOSE_RESTART = 1012  # instance draining (SIGTERM): reconnect with `since`
CLOSE_TOO_SLOW = 1013  # the client fell too far behind: reconnect with `since`
CLOSE_UNAUTHORIZED = 4401  # credentials missing, invalid, expired or revoked: do not retry as is
CLOSE_TOO_MANY = 4429  # connection limit or message rate exceeded: back off


def _normalised(v: object) -> object:
    return normalise_symbol(v) if isinstance(v, str) else v


# A vendor's alias (`BTC/USD`, `X:BTCUSD`, `C:EURUSD`, `aapl`) names the same symbol as
# tickcast's own (`BTC-USD`): normalised first, then validated; answers use the result.
ClientSymbol = Annotated[Symbol, BeforeValidator(_normalised)]


def client_symbol(raw: str) -> str | None:
    """A symbol from a URL or a message, normalised; None when it is not a valid one."""
    s = normalise_symbol(raw)
    return s if SYMBOL_RE.fullmatch(s) else None


class _Msg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Symbols(_Msg):
    channel: Channel = "predictions"
    symbol: ClientSymbol | None = None
    symbols: Annotated[list[ClientSymbol], Field(max_length=MAX_SYMBOLS_PER_MESSAGE)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> _Symbols:
        if (self.symbol is None) == (self.symbols is None):
            raise ValueError("give exactly one of 'symbol' or 'symbols'")
        if self.symbols is not None and not self.symbols:
            raise ValueError("'symbols' is empty")
        return self

    @property
    def symbol_list(self) -> list[str]:
        return [self.symbol] if self.symbol is not None else list(dict.fromkeys(self.symbols or []))


class Subscribe(_Symbols):
    type: Literal["subscribe"]
    since: dict[ClientSymbol, int] | None = None  # replay history after these seqs first


class Unsubscribe(_Symbols):
    type: Literal["unsubscribe"]


class Ping(_Msg):
    type: Literal["ping"]
    id: str | int | None = None


def _horizon(v: object) -> object:
    """Bars (`3`, "3", "3bars") or a duration ("90s", "5m", "1h", "1d", "1w"); what it
    means is answered, not refused (options.py): only the type and size are checked."""
    if isinstance(v, int) and not isinstance(v, bool):
        if v <= 0:
            raise ValueError("a number of bars must be positive")
        return v
    if isinstance(v, str):
        if len(v) > MAX_OPTION_CHARS:
            raise ValueError(f"at most {MAX_OPTION_CHARS} characters")
        return v
    raise ValueError("a number of bars, or a duration such as '1d'")


class RequestOptions(_Msg):
    """Each one set is answered `served` or `not_served` with a reason (options.py)."""

    horizon: Annotated[str | int, BeforeValidator(_horizon)] | None = None
    confidence: Annotated[float, Field(gt=0, lt=1)] | None = None
    model: Annotated[str, Field(max_length=MAX_OPTION_CHARS)] | None = None


class RequestPrediction(_Msg):
    type: Literal["request_prediction"]
    symbol: ClientSymbol
    options: RequestOptions = RequestOptions()
    id: str | int | None = None


class Auth(_Msg):
    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]


ClientMessage = Annotated[
    Subscribe | Unsubscribe | Ping | RequestPrediction | Auth, Field(discriminator="type")
]
_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
KNOWN_TYPES = ("subscribe", "unsubscribe", "ping", "request_prediction", "auth")


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(data: str | bytes) -> ClientMessage:
    try:
        return _adapter.validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise ProtocolError("invalid_json", "message is not valid JSON") from None
        if first["type"] in ("dict_type", "model_attributes_type"):
            raise ProtocolError(
                "invalid_message", "a message is a JSON object with a 'type'"
            ) from None
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise ProtocolError(
                "unknown_type", f"'type' must be one of {', '.join(KNOWN_TYPES)}"
            ) from None
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise ProtocolError("invalid_message", f"{where}: {first['msg']}") from None


def frame(type_: str, **fields: Any) -> str:
    return orjson.dumps({"type": type_, **fields}, default=str).decode()


def error_frame(code: str, message: str) -> str:
    return frame("error", code=code, message=message)
