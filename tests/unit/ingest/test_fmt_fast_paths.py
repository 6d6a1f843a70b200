"""Ingest's two fast paths give exactly what the validating paths give.

- `JsonFormat.stream`: a stream frame validated with a discriminator field (Rust-side)
  before the discriminator function; any failure falls back to the full path.
- `schema.Unchecked(Tick)`: Alpaca's trade and quote ticks built from the validated
  vendor model without validating the Tick again.

Each test parses the same bytes twice, once as shipped and once with both fast paths
off, and compares everything `parse` returns: ticks (==, repr, wire JSON, fields set),
rejections (reason, error, raw) and the skip count.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from tickcast.ingest.formats import Parsed, alpaca, parse, polygon
from tickcast.ingest.formats import _common as C
from tickcast.replay import rfc3339_ns
from tickcast.schema import Tick

DATA = Path(__file__).resolve().parents[2] / "data" / "vendor"
NOW_NS = 1_767_225_600 * 10**9  # as conftest.py: wide enough for every golden file
WIDE = {"now_ns": NOW_NS, "max_past_ns": 20 * 365 * 86_400 * 10**9, "max_future_ns": 60 * 10**9}

FORMATS = {"alpaca": alpaca, "polygon": polygon}


def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in FORMATS.values():
        monkeypatch.setattr(module, "FORMAT", dataclasses.replace(module.FORMAT, stream=None))
    monkeypatch.setattr(alpaca._TICK, "fast", False)


def _view(p: Parsed) -> tuple[Any, ...]:
    ticks = [
        (sym, t, repr(t), t.model_dump_json(exclude_none=True), t.model_fields_set)
        for sym, t in p.ticks
    ]
    return p.format, ticks, [(r.reason, r.error, r.raw) for r in p.rejected], p.skipped


def _both(body: bytes, fmt: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    fast = _view(parse(body, fmt, **WIDE))
    with pytest.MonkeyPatch.context() as mp:
        _slow(mp)
        slow = _view(parse(body, fmt, **WIDE))
    return fast, slow


def _files(vendor: str) -> list[Path]:
    return sorted((DATA / vendor).iterdir())


def test_the_fast_paths_are_on() -> None:
    """Not vacuous: the shipped formats use both (pydantic's layout is the one expected)."""
    assert alpaca._TICK.fast
    trade = orjson.loads((DATA / "alpaca" / "stream_trade.json").read_bytes())
    frame = orjson.dumps(trade if isinstance(trade, list) else [trade])
    assert alpaca.FORMAT.stream is not None and polygon.FORMAT.stream is not None
    assert alpaca.FORMAT.stream.validate_json(frame, context={"lo": 0, "hi": 2**62})
    tick = parse(frame, "alpaca", **WIDE).ticks[0][1]
    assert type(tick) is Tick


@pytest.mark.parametrize("path", _files("alpaca"), ids=lambda p: p.name)
def test_every_alpaca_golden_file_parses_the_same_either_way(path: Path) -> None:
    fast, slow = _both(path.read_bytes(), "alpaca")
    assert fast == slow


@pytest.mark.parametrize("path", _files("polygon"), ids=lambda p: p.name)
def test_every_polygon_golden_file_parses_the_same_either_way(path: Path) -> None:
    fast, slow = _both(path.read_bytes(), "polygon")
    assert fast == slow


PRICES = st.one_of(
    st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-5, max_value=10**6),  # ints are not prices in strict mode
    st.just(0.0),
    st.just(float("nan")).map(lambda _: "nan"),
)
SIZES = st.one_of(st.floats(min_value=0, max_value=1e12), st.integers(-3, 10**9))
SYMBOLS = st.sampled_from(["AAPL", "BRK.B", "BTC/USD", "eth/usd", "bad sym", "", "X" * 30])


@st.composite
def alpaca_element(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["t", "q", "b", "x", "c", "success", "o", "t"]))
    t = rfc3339_ns(NOW_NS - draw(st.integers(0, 10**12)))
    el: dict[str, Any] = {"T": kind, "S": draw(SYMBOLS), "t": t}
    if kind == "t":
        el |= {"p": draw(PRICES), "s": draw(SIZES)}
        if draw(st.booleans()):
            el |= {"i": draw(st.integers(-2, 2**40)), "x": draw(st.sampled_from(["V", "P"]))}
        if draw(st.booleans()):
            el |= {"c": draw(st.lists(st.sampled_from(["@", "I", "Z", "4", "T"]), max_size=3))}
            el["z"] = draw(st.sampled_from(["A", "B", "C"]))
    elif kind == "q":
        bp = draw(PRICES)
        el |= {"bp": bp, "ap": draw(st.one_of(PRICES, st.just(bp))), "bs": draw(SIZES)}
        el["as"] = draw(SIZES)
    elif kind == "b":
        el |= {"o": 10.0, "h": 12.0, "l": draw(PRICES), "c": 11.0, "v": draw(SIZES)}
    elif kind == "x":
        el |= {"i": 5, "p": draw(PRICES), "s": 1.0, "a": "C"}
    elif kind == "c":
        el |= {"oi": 5, "ci": 6, "cp": draw(PRICES), "cs": 2.0, "cc": ["@"]}
    if draw(st.integers(0, 9)) == 0:
        el.pop(draw(st.sampled_from(sorted(el))))
    return el


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(alpaca_element(), min_size=1, max_size=8))
def test_random_alpaca_frames_parse_the_same_either_way(frame: list[dict[str, Any]]) -> None:
    fast, slow = _both(orjson.dumps(frame), "alpaca")
    assert fast == slow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "ev": st.sampled_from(["T", "Q", "XT", "XQ", "C", "A", "AM", "XA", "LULD", 7]),
                "sym": SYMBOLS,
                "p": PRICES,
                "s": SIZES,
                "t": st.integers(NOW_NS // 10**6 - 10**8, NOW_NS // 10**6),
                "bp": PRICES,
                "ap": PRICES,
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_random_polygon_frames_parse_the_same_either_way(frame: list[dict[str, Any]]) -> None:
    fast, slow = _both(orjson.dumps(frame), "polygon")
    assert fast == slow


GOOD_PRICES = st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False, allow_infinity=False)


@st.composite
def good_alpaca_element(draw: st.DrawFn) -> dict[str, Any]:
    """A valid trade or quote (stock or crypto shape): the frames the fast paths take."""
    t = rfc3339_ns(NOW_NS - draw(st.integers(0, 10**12)))
    sym = draw(st.sampled_from(["AAPL", "BRK.B", "BTC/USD", "eth/usd", "X:BTCUSD"]))
    if draw(st.booleans()):
        el = {"T": "t", "S": sym, "t": t, "p": draw(GOOD_PRICES)}
        el |= {"s": draw(st.floats(min_value=0, max_value=1e12) | st.integers(0, 10**9))}
        if draw(st.booleans()):
            el |= {"i": draw(st.integers(-2, 2**40)), "x": draw(st.sampled_from(["V", "P"]))}
        if draw(st.booleans()):
            el["c"] = draw(st.lists(st.sampled_from(["@", "I", "Z", "4", "T", "?"]), max_size=3))
            el["z"] = draw(st.sampled_from(["A", "B", "C", "Q"]))
        return el
    bp, ap = sorted([draw(GOOD_PRICES), draw(GOOD_PRICES)])
    return {"T": "q", "S": sym, "t": t, "bp": bp, "ap": ap, "bs": 1.0, "as": 3, "c": ["R"]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(good_alpaca_element(), min_size=1, max_size=8))
def test_valid_alpaca_frames_take_the_fast_path_and_parse_the_same(
    frame: list[dict[str, Any]],
) -> None:
    body = orjson.dumps(frame)
    assert alpaca.FORMAT.stream is not None
    assert alpaca.FORMAT.stream.validate_json(body, context=None)  # the fast path takes it
    fast, slow = _both(body, "alpaca")
    assert fast == slow
    assert len(fast[1]) == len(frame)


def _outcome(fn: Any, v: str) -> Any:
    try:
        return fn(v)
    except PydanticCustomError as exc:
        return ("error", exc.type, str(exc))


STAMP_CHARS = st.sampled_from([*"0123456789", *"Tt .Zz+-:x", "\uff13"])  # U+FF13: a fullwidth 3


@settings(max_examples=2000, deadline=None)
@given(
    st.integers(0, 2**63 - 1).map(rfc3339_ns),
    st.lists(st.tuples(st.integers(0, 29), STAMP_CHARS), max_size=2),
)
def test_the_timestamp_fast_path_agrees_with_the_full_parse(
    stamp: str, edits: list[tuple[int, str]]
) -> None:
    """Alpaca's 30-character layout takes a cached fast path: same value or same error."""
    chars = list(stamp)
    for i, c in edits:  # valid stamps, and near misses of every position
        if i < len(chars):
            chars[i] = c
    v = "".join(chars)
    assert _outcome(C.rfc3339_ns, v) == _outcome(C._rfc3339_ns, v)
