"""The dispatcher: body forms, format detection, the format attribute, every reject
reason, the timestamp window and nanosecond precision, and that arbitrary bytes never
raise anything but PermanentError. Vendor examples come from the pages cited in the
per-format test files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from tickcast.errors import PermanentError
from tickcast.ingest.formats import REASONS, Parsed, parse
from tickcast.ingest.formats._common import rfc3339_ns
from tickcast.ingest.formats.detect import detect

Parse = Callable[..., Parsed]
Vendor = Callable[[str], bytes]

DATA = Path(__file__).resolve().parents[2] / "data" / "vendor"
TRADE = {
    "T": "t",
    "S": "AAPL",
    "i": 1,
    "x": "V",
    "p": 10.0,
    "s": 5,
    "t": "2024-03-01T15:00:00.000000001Z",
}
TRADE_NS = 1_709_305_200_000_000_001


# --- detection and the format attribute --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("alpaca/stream_trade.json", "alpaca"),
        ("alpaca/stream_session.ndjson", "alpaca"),
        ("alpaca/rest_bars_multi.json", "alpaca"),
        ("alpaca/rest_trades_single.json", "alpaca"),
        ("alpaca/stream_cancel.json", "alpaca"),
        ("alpaca/stream_correction.json", "alpaca"),
        ("alpaca/crypto_stream.ndjson", "alpaca"),
        ("polygon/ws_quote.json", "polygon"),
        ("polygon/ws_luld.json", "polygon"),
        ("polygon/rest_aggs.json", "polygon"),
        ("polygon/ws_crypto_trade.json", "polygon"),
        ("polygon/ws_crypto_quote.json", "polygon"),
        ("polygon/ws_crypto_agg.json", "polygon"),
        ("polygon/ws_forex_quote.json", "polygon"),
        ("polygon/ws_forex_agg.json", "polygon"),
        ("polygon/rest_crypto_aggs.json", "polygon"),
        ("polygon/rest_trades.json", "polygon"),
        ("yahoo/btc_usd.b64", "yahoo"),
        ("tickcast/tick.json", "tickcast"),
        ("tickcast/ticks_message.json", "tickcast"),
    ],
)
def test_detect_golden(name: str, fmt: str) -> None:
    body = (DATA / name).read_bytes()
    assert detect(body) == fmt
    if name.endswith(".json"):
        assert detect(b"[" + body + b"]") == fmt
    # Detected and parsed without the attribute: every golden element is a tick, a skipped
    # control message or (LULD, orderbooks) a reject with a reason.
    out = parse(body, None, now_ns=TRADE_NS, max_past_ns=10**19, max_future_ns=10**19)
    assert out.format == fmt
    assert out.ticks or all(r.reason == "unsupported_message" for r in out.rejected)


def test_detect_envelope_and_large_first_message() -> None:
    assert detect(b'{"type":"pricing","message":"Cg=="}') == "yahoo"
    padded = {"pad": "x" * 10_000, **TRADE}  # the telling key comes after the prefix
    assert detect(orjson.dumps(padded)) == "alpaca"
    assert detect(b'{"foo": 1}') is None
    assert detect(b"\x00\x01") is None


def test_declared_format_that_contradicts_the_body(vendor: Vendor) -> None:
    with pytest.raises(PermanentError) as exc:
        parse(vendor("polygon/ws_trade.json"), "alpaca", now_ns=1, max_past_ns=1, max_future_ns=1)
    assert exc.value.reason == "format_mismatch"
    assert "polygon" in exc.value.message


def test_declared_format_is_case_insensitive(wide: Parse, vendor: Vendor) -> None:
    assert wide(vendor("polygon/ws_trade.json"), " Polygon ").format == "polygon"


@pytest.mark.parametrize(
    ("body", "fmt", "reason"),
    [
        (b"", None, "empty_body"),
        (b" \n ", "alpaca", "empty_body"),
        (b'{"T":"t"', None, "invalid_json"),
        (b'[{"T":"t"},]', "alpaca", "invalid_json"),
        (b"{nope}\n{nope}", None, "invalid_json"),
        (b'{"foo": 1}', None, "unknown_format"),
        (orjson.dumps(TRADE), "bloomberg", "unknown_format"),
        (b"\xff\xfe", None, "unknown_format"),
    ],
)
def test_whole_body_errors(wide: Parse, body: bytes, fmt: str | None, reason: str) -> None:
    with pytest.raises(PermanentError) as exc:
        wide(body, fmt)
    assert exc.value.reason == reason


def test_shape_without_attribute_is_still_checked(wide: Parse) -> None:
    [rej] = wide(b'{"foo": 1}', "alpaca").rejected
    assert rej.reason == "invalid_message"


# --- body forms --------------------------------------------------------------------------------


def test_one_array_and_ndjson_give_the_same_ticks(wide: Parse) -> None:
    other = TRADE | {"i": 2, "p": 10.5}
    one = wide(orjson.dumps(TRADE)).ticks + wide(orjson.dumps(other)).ticks
    array = wide(orjson.dumps([TRADE, other])).ticks
    ndjson = wide(orjson.dumps(TRADE) + b"\n\n" + orjson.dumps(other) + b"\n").ticks
    pretty = wide(orjson.dumps([TRADE, other], option=orjson.OPT_INDENT_2)).ticks
    assert one == array == ndjson == pretty
    assert len(one) == 2


def test_ndjson_with_a_bad_line(wide: Parse) -> None:
    body = orjson.dumps(TRADE) + b"\n{not json\n" + orjson.dumps([TRADE | {"i": 2}])
    out = wide(body)
    assert len(out.ticks) == 2
    [rej] = out.rejected
    assert (rej.reason, rej.raw) == ("invalid_json", b"{not json")
    assert "line 2" in rej.error


def test_mixed_batch_valid_elements_survive(wide: Parse) -> None:
    bad = {
        "invalid_price": TRADE | {"i": 10, "p": -1},
        "invalid_size": TRADE | {"i": 11, "s": -1},
        "invalid_symbol": TRADE | {"i": 12, "S": "NOT A SYMBOL"},
        "invalid_timestamp": TRADE | {"i": 13, "t": "yesterday"},
        "invalid_message": TRADE | {"i": 14, "p": "10.0"},
        "crossed_quote": {"T": "q", "S": "AAPL", "bp": 2.0, "ap": 1.0, "t": TRADE["t"]},
        "invalid_bar": {
            "T": "b",
            "S": "AAPL",
            "o": 5,
            "h": 4,
            "l": 3,
            "c": 4,
            "v": 1,
            "t": TRADE["t"],
        },
        "format_mismatch": {"ev": "T", "sym": "AAPL", "p": 1, "t": 1},
        "vendor_error": {"T": "error", "code": 402, "msg": "auth failed"},
        "unsupported_message": {"T": "l", "S": "AAPL", "u": 1, "d": 2, "t": TRADE["t"]},
    }
    good = [TRADE, TRADE | {"i": 2}, TRADE | {"i": 3, "S": "brk.b"}]
    body = orjson.dumps([good[0], *bad.values(), good[1], {"T": "success", "msg": "ok"}, good[2]])
    out = wide(body)
    assert [(s, t.id) for s, t in out.ticks] == [
        ("AAPL", f"alpaca:t:AAPL:V:1@{TRADE_NS}"),
        ("AAPL", f"alpaca:t:AAPL:V:2@{TRADE_NS}"),
        ("BRK.B", f"alpaca:t:BRK.B:V:3@{TRADE_NS}"),
    ]
    assert out.skipped == 1
    assert [r.reason for r in out.rejected] == list(bad)
    for rej, element in zip(out.rejected, bad.values(), strict=True):
        assert orjson.loads(rej.raw) == element  # each with its own bytes
        assert rej.error


def test_errors_name_the_field(wide: Parse) -> None:
    [rej] = wide(orjson.dumps([TRADE | {"p": 0}])).rejected
    assert rej.error.startswith("p: ")
    [rej] = wide(orjson.dumps(TRADE | {"S": "a b"})).rejected
    assert "'a b'" in rej.error


def test_infinite_and_nan_prices(wide: Parse) -> None:
    body = b'[{"T":"t","S":"A","p":1e999,"t":"2024-03-01T15:00:00Z"},{"T":"t","S":"A","p":NaN,"t":"2024-03-01T15:00:00Z"}]'
    assert [r.reason for r in wide(body).rejected] == ["invalid_price", "invalid_price"]


# --- time ---------------------------------------------------------------------------------------


def test_window() -> None:
    body = orjson.dumps(TRADE)
    ok = parse(body, None, now_ns=TRADE_NS, max_past_ns=0, max_future_ns=0)
    assert len(ok.ticks) == 1
    [stale] = parse(body, None, now_ns=TRADE_NS + 2, max_past_ns=1, max_future_ns=1).rejected
    assert stale.reason == "stale_timestamp"
    assert "2024-03-01T15:00:00.000000001Z" in stale.error
    [future] = parse(body, None, now_ns=TRADE_NS - 2, max_past_ns=1, max_future_ns=1).rejected
    assert future.reason == "future_timestamp"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2021-02-22T15:51:45.335689322Z", 1_614_009_105_335_689_322),
        ("2021-02-22T15:51:45.335689322999Z", 1_614_009_105_335_689_322),  # past ns: dropped
        ("2021-02-22T15:51:45.3Z", 1_614_009_105_300_000_000),
        ("2021-02-22T15:51:45Z", 1_614_009_105_000_000_000),
        ("2021-02-22T10:51:45.000000001-05:00", 1_614_009_105_000_000_001),
        ("2021-02-22t15:51:45z", 1_614_009_105_000_000_000),
        ("2262-04-11T23:47:16.854775807Z", 9_223_372_036_854_775_807),  # no float anywhere
    ],
)
def test_rfc3339_nanoseconds(text: str, ns: int) -> None:
    assert rfc3339_ns(text) == ns


@pytest.mark.parametrize(
    "text", ["2021-02-30T00:00:00Z", "2021-02-22T24:00:00Z", "2021-02-22T15:51:45", "1614009105"]
)
def test_rfc3339_rejects(wide: Parse, text: str) -> None:
    [rej] = wide(orjson.dumps(TRADE | {"t": text})).rejected
    assert rej.reason == "invalid_timestamp"


# --- robustness ---------------------------------------------------------------------------------


def _never_raises_but_permanent(body: bytes, fmt: str | None) -> None:
    try:
        out = parse(body, fmt, now_ns=TRADE_NS, max_past_ns=10**20, max_future_ns=10**20)
    except PermanentError as exc:
        assert exc.reason in REASONS
        return
    for rej in out.rejected:
        assert rej.reason in REASONS
        assert isinstance(rej.raw, bytes)


FORMATS = st.sampled_from([None, "alpaca", "polygon", "yahoo", "tickcast"])
KEYS = ["T", "S", "p", "s", "t", "i", "x", "c", "bp", "ap", "o", "h", "l", "v", "ev", "sym", "q"]
KEYS += ["symbol", "ts", "price", "ticks", "v", "bars", "trades", "results", "ticker", "type"]
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(
        [
            "t",
            "q",
            "b",
            "T",
            "Q",
            "AM",
            "AAPL",
            "BTC/USD",
            "2024-03-01T15:00:00Z",
            "pricing",
            "Cg==",
        ]
    )
    | st.text(max_size=8)
)
JSONISH = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=200), fmt=FORMATS)
def test_arbitrary_bytes(body: bytes, fmt: str | None) -> None:
    _never_raises_but_permanent(body, fmt)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSONISH, fmt=FORMATS, ndjson=st.booleans())
def test_arbitrary_vendor_like_json(doc: object, fmt: str | None, ndjson: bool) -> None:
    docs = doc if ndjson and isinstance(doc, list) else [doc]
    body = b"\n".join(to_json(d) for d in docs)  # to_json: big ints and NaN, unlike orjson
    _never_raises_but_permanent(body, fmt)


GOLDEN = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix != ".md")


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(GOLDEN),
    cut=st.integers(min_value=0, max_value=2000),
    flip=st.integers(min_value=0, max_value=2000),
    byte=st.integers(min_value=0, max_value=255),
    fmt=FORMATS,
)
def test_mutated_golden_messages(
    path: Path, cut: int, flip: int, byte: int, fmt: str | None
) -> None:
    body = bytearray(path.read_bytes())
    if body:
        body[flip % len(body)] = byte
    _never_raises_but_permanent(bytes(body[: len(body) - cut % (len(body) + 1)]), fmt)


NUMBER = st.floats() | st.integers(min_value=-(2**64), max_value=2**64)
SHAPES = [
    lambda n: {"T": "t", "S": "A", "i": 1, "p": n[0], "s": n[1], "t": TRADE["t"]},
    lambda n: {"T": "q", "S": "A", "bp": n[0], "ap": n[1], "bs": n[2], "as": n[3], "t": TRADE["t"]},
    lambda n: {
        "T": "b",
        "S": "A",
        "o": n[0],
        "h": n[1],
        "l": n[2],
        "c": n[3],
        "v": n[4],
        "t": TRADE["t"],
    },
    lambda n: {"ev": "T", "sym": "A", "p": n[0], "s": n[1], "t": TRADE_NS // 10**6},
    lambda n: {"ev": "Q", "sym": "A", "bp": n[0], "ap": n[1], "t": TRADE_NS // 10**6},
    lambda n: {
        "ev": "A",
        "sym": "A",
        "o": n[0],
        "h": n[1],
        "l": n[2],
        "c": n[3],
        "v": n[4],
        "s": 1,
    },
    lambda n: {
        "symbol": "A",
        "ts": TRADE_NS,
        "price": n[0],
        "bid": n[1],
        "ask": n[2],
        "vwap": n[3],
    },
]


@settings(max_examples=300, deadline=None)
@given(shape=st.sampled_from(SHAPES), numbers=st.lists(NUMBER, min_size=5, max_size=5))
def test_every_well_shaped_element_is_a_tick_or_a_reject(
    shape: Callable[[list[object]], dict[str, object]], numbers: list[object]
) -> None:
    out = parse(
        to_json([shape(numbers)]), None, now_ns=TRADE_NS, max_past_ns=10**20, max_future_ns=10**20
    )
    assert len(out.ticks) + len(out.rejected) == 1
    for _, tick in out.ticks:
        assert tick.price > 0
