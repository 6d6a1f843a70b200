"""The features stage's msgspec decoder accepts exactly what the contract model accepts."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tickcast.features.ticks_decoder import FastTick, FastTicksMessage, decode_ticks
from tickcast.schema import Tick, TicksMessage


def _wire(m: FastTicksMessage | TicksMessage) -> Any:
    """Both kinds as plain JSON values (tuples become lists, as on the wire)."""
    if isinstance(m, TicksMessage):
        return orjson.loads(m.model_dump_json())
    return orjson.loads(msgspec.json.encode(m))


def _contract(data: bytes) -> TicksMessage | None:
    try:
        return TicksMessage.model_validate_json(data)
    except ValidationError:
        return None


@pytest.mark.parametrize(("mirror", "model"), [(FastTick, Tick), (FastTicksMessage, TicksMessage)])
def test_mirror_has_the_contract_fields_and_defaults(mirror: Any, model: Any) -> None:
    required = object()
    ours = {
        f.name: (
            required
            if f.required
            else f.default_factory()
            if f.default_factory is not msgspec.NODEFAULT
            else f.default
        )
        for f in msgspec.structs.fields(mirror)
    }
    theirs = {
        name: required if f.is_required() else f.get_default(call_default_factory=True)
        for name, f in model.model_fields.items()
    }
    assert ours == theirs


_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 1, 1.5, 1e308, 5e-324]),
    st.text(alphabet="0123456789.e-", max_size=6),
    st.none(),
    st.booleans(),
)
_tick_fields = {
    "ts": _numbers,
    "price": _numbers,
    "size": _numbers,
    "kind": st.sampled_from(["trade", "quote", "bar", "Trade", "", 1]),
    "source": st.one_of(st.text(max_size=4), st.integers()),
    "id": st.one_of(st.text(max_size=4), st.integers()),
    "conditions": st.one_of(st.lists(st.text(max_size=2), max_size=2), st.text(max_size=2)),
    "exchange": st.one_of(st.none(), st.text(max_size=2)),
    "bid": _numbers,
    "ask": _numbers,
    "bid_size": _numbers,
    "ask_size": _numbers,
    "open": _numbers,
    "high": _numbers,
    "low": _numbers,
    "vwap": _numbers,
    "trades": _numbers,
    "bar_s": _numbers,
    "extra": st.integers(),
}
_valid_tick = st.fixed_dictionaries(
    {
        "ts": st.integers(min_value=1, max_value=2**63),
        "price": st.floats(min_value=1e-6, max_value=1e9),
    },
    optional={
        "size": st.floats(min_value=0, max_value=1e9),
        "kind": st.sampled_from(["trade", "quote", "bar"]),
        "id": st.text(max_size=8),
        "conditions": st.lists(st.text(max_size=2), max_size=3),
        "trades": st.integers(min_value=0, max_value=10**6),
        "bar_s": st.integers(min_value=1, max_value=86_400),
        "vwap": st.floats(min_value=1e-6, max_value=1e9),
    },
)
_valid_message = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "BRK.B", "^GSPC", "BTC-USD", "EURUSD=X"]),
        "ticks": st.lists(_valid_tick, min_size=1, max_size=3),
        "batch": st.text(max_size=6),
    },
    optional={
        "v": st.just(1),
        "trace": st.dictionaries(st.text(max_size=3), st.integers(0, 2**63)),
    },
)
_message_fields = {
    "symbol": st.one_of(
        st.sampled_from(["AAPL\n", "aapl", "", "A/B", "A" * 25, " A"]),
        st.from_regex(r"[A-Za-z0-9.^=_\-/\n ]{0,26}", fullmatch=True),
    ),
    "ticks": st.one_of(st.just([]), st.just(None), st.lists(_valid_tick, max_size=1)),
    "batch": st.one_of(st.integers(), st.none()),
    "v": st.sampled_from([2, "1", 1.0, True, None]),
    "trace": st.one_of(
        st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=2))),
        st.just([]),
    ),
    "other": st.integers(),
}


@st.composite
def _messages(draw: st.DrawFn) -> dict[str, Any]:
    """Valid messages, and valid ones with a field or two of one tick or of the
    message replaced by an arbitrary (often lax or invalid) value."""
    body = draw(_valid_message)
    how = draw(st.sampled_from(["valid", "tick", "message", "both"]))
    if how in ("tick", "both"):
        i = draw(st.integers(0, len(body["ticks"]) - 1))
        names = draw(st.lists(st.sampled_from(sorted(_tick_fields)), min_size=1, max_size=2))
        for name in names:
            body["ticks"][i][name] = draw(_tick_fields[name])
    if how in ("message", "both"):
        name = draw(st.sampled_from(sorted(_message_fields)))
        body[name] = draw(_message_fields[name])
    if draw(st.booleans()) and how != "valid":
        body.pop(draw(st.sampled_from(sorted(body))))
    return body


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_messages())
def test_decoder_accepts_exactly_what_the_contract_accepts(body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()  # stdlib: integers beyond 64 bits too
    expected = _contract(data)
    try:
        fast = msgspec.json.decode(data, type=FastTicksMessage)
    except msgspec.DecodeError:
        fast = None
    if fast is not None:
        # Whatever the mirror accepts, the contract accepts with equal values.
        assert expected is not None, body
        assert _wire(fast) == _wire(expected)
    # And the decoder as a whole decides exactly like the contract.
    if expected is None:
        with pytest.raises(ValidationError):
            decode_ticks(data)
    else:
        assert _wire(decode_ticks(data)) == _wire(expected)


@pytest.mark.parametrize(
    "text",
    [
        b'{"symbol":"A","ticks":[{"ts":1,"price":1e999}],"batch":"x"}',  # inf
        b'{"symbol":"A","ticks":[{"ts":1,"price":NaN}],"batch":"x"}',
        b'{"symbol":"A","ticks":[{"ts":1,"price":1,"size":-1e999}],"batch":"x"}',
        b'{"symbol":"AAPL\\n","ticks":[{"ts":1,"price":1}],"batch":"x"}',
        b'{"symbol":"A","ticks":[],"batch":"x"}',
        b'{"symbol":"A","ticks":[{"ts":1,"price":1}]}',
        b'{"symbol":"A","ticks":[{"ts":1,"price":1}],"batch":"x"',
    ],
)
def test_invalid_bodies_raise_the_contract_error(text: bytes) -> None:
    assert _contract(text) is None
    with pytest.raises(ValidationError):
        decode_ticks(text)


def test_lax_input_the_mirror_refuses_is_still_accepted_like_the_contract() -> None:
    data = b'{"symbol":"A","ticks":[{"ts":1.0,"price":"1.5"}],"batch":"x"}'
    got = decode_ticks(data)
    assert isinstance(got, TicksMessage)
    assert got.ticks[0].price == 1.5 and got.ticks[0].ts == 1


def test_duplicate_keys_resolve_like_the_contract() -> None:
    data = b'{"symbol":"A","ticks":[{"ts":1,"price":1,"price":2}],"batch":"x"}'
    assert _wire(decode_ticks(data)) == _wire(TicksMessage.model_validate_json(data))


def test_the_usual_message_takes_the_fast_path() -> None:
    data = orjson.dumps(
        {
            "v": 1,
            "symbol": "AAPL",
            "ticks": [{"ts": 1_700_000_000_000_000_000, "price": 190.5, "size": 10.0}],
            "batch": "b1",
            "trace": {"event": 1},
        }
    )
    assert isinstance(decode_ticks(data), FastTicksMessage)
