"""Yahoo Finance streamer frames. Yahoo documents no stream: the golden frame and its
expected values are the ones in the yfinance project's tests
(https://github.com/ranaroussi/yfinance, tests/test_live.py, test_decode_message_valid),
decoded with yfinance/pricing.proto.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickcast.errors import PermanentError
from tickcast.ingest.formats import REASONS, Parsed, parse
from tickcast.ingest.formats.yahoo import _f32
from tickcast.ingest.formats.yahoo_pricing_pb2 import PricingData

Parse = Callable[..., Parsed]
Vendor = Callable[[str], bytes]

BTC_MS = 1_736_509_140_000


def frame(**fields: object) -> bytes:
    return base64.b64encode(PricingData(**fields).SerializeToString())  # type: ignore[arg-type]


def test_yfinance_frame(wide: Parse, vendor: Vendor) -> None:
    body = vendor("yahoo/btc_usd.b64")
    out = wide(body)
    assert out.format == "yahoo"
    [(sym, t)] = out.ticks
    assert sym == "BTC-USD"
    assert t.ts == BTC_MS * 1_000_000
    assert t.price == 94745.08  # yfinance's value; float32 on the wire is 94745.078125
    assert (t.kind, t.source, t.exchange) == ("trade", "yahoo", "CCC")
    # last_size == day_volume == 59712028672 on this crypto frame: a 24h total, not a trade
    assert t.size == 0.0
    assert t.bid is None and t.ask is None
    assert t.id.startswith("yahoo:t:BTC-USD:")


def test_pb2_matches_yfinance_decoding(vendor: Vendor) -> None:
    pd = PricingData.FromString(base64.b64decode(vendor("yahoo/btc_usd.b64").strip()))
    assert (pd.currency, pd.from_currency, pd.price_hint) == ("USD", "BTC", 2)
    assert pd.quote_type == PricingData.CRYPTOCURRENCY
    assert pd.market_hours == PricingData.REGULAR_MARKET
    assert pd.day_volume == pd.last_size == pd.vol_24hr == 59_712_028_672
    assert (pd.circulating_supply, pd.market_cap) == (19_808_172.0, 1_876_726_640_000.0)
    assert _f32(pd.day_high) == 95227.555
    assert _f32(pd.change_percent) == 1.5344921


@pytest.mark.parametrize("wrap", ["envelope", "array", "ndjson", "string", "lines"])
def test_body_forms(wide: Parse, vendor: Vendor, wrap: str) -> None:
    b64 = vendor("yahoo/btc_usd.b64").strip().decode()
    env = {"type": "pricing", "message": b64}
    body = {
        "envelope": orjson.dumps(env),
        "array": orjson.dumps([env, b64]),
        "ndjson": orjson.dumps(env) + b"\n" + orjson.dumps(env) + b"\n",
        "string": orjson.dumps(b64),
        "lines": f"{b64}\n{b64}\n".encode(),
    }[wrap]
    out = wide(body)
    assert not out.rejected
    assert {s for s, _ in out.ticks} == {"BTC-USD"}
    assert len({t.id for _, t in out.ticks}) == 1  # the same frame twice is one event


def test_trade_size_and_book(wide: Parse) -> None:
    body = frame(
        id="AAPL", price=189.25, time=BTC_MS, exchange="NMS", quote_type=PricingData.EQUITY,
        day_volume=1_000_000, last_size=300, bid=189.2, ask=189.3, bid_size=4, ask_size=7,
    )  # fmt: skip
    [(sym, t)] = wide(body).ticks
    assert (sym, t.price, t.size) == ("AAPL", 189.25, 300.0)
    assert (t.bid, t.ask, t.bid_size, t.ask_size) == (189.2, 189.3, 4.0, 7.0)


def test_crossed_book_is_dropped_not_the_price(wide: Parse) -> None:
    body = frame(id="AAPL", price=189.25, time=BTC_MS, bid=189.4, ask=189.3)
    [(_, t)] = wide(body).ticks
    assert t.bid is None and t.ask is None


def test_heartbeat_is_skipped(wide: Parse) -> None:
    out = wide(frame(id="AAPL", quote_type=PricingData.HEARTBEAT, time=BTC_MS))
    assert (out.ticks, out.rejected, out.skipped) == ([], [], 1)


def test_bad_frames_in_a_batch(wide: Parse, vendor: Vendor) -> None:
    good = vendor("yahoo/btc_usd.b64").strip().decode()
    bad_price = frame(id="AAPL", price=0, time=BTC_MS).decode()
    body = orjson.dumps([good, "not base64!", "AAAA", bad_price, {"type": "news", "message": good}])
    out = wide(body)
    assert [s for s, _ in out.ticks] == ["BTC-USD"]
    by_reason = {r.reason: r.raw for r in out.rejected}
    assert by_reason.keys() == {
        "invalid_base64",
        "invalid_protobuf",
        "invalid_price",
        "unsupported_message",
    }
    assert by_reason["invalid_base64"] == b"not base64!"
    assert by_reason["invalid_protobuf"] == b"AAAA"
    assert by_reason["invalid_price"] == bad_price.encode()


def test_undecodable_body_is_permanent(wide: Parse) -> None:
    with pytest.raises(PermanentError) as exc:
        wide(b"this-is-not-a-frame", "yahoo")
    assert exc.value.reason == "invalid_base64"


def test_symbol_and_window(wide: Parse) -> None:
    [rej] = wide(frame(id="bad sym", price=1.0, time=BTC_MS)).rejected
    assert rej.reason == "invalid_symbol"
    [rej] = wide(frame(id="AAPL", price=1.0, time=1)).rejected
    assert rej.reason == "stale_timestamp"


def test_float32_rounding() -> None:
    assert _f32(94745.078125) == 94745.08
    assert _f32(0.0) == 0.0
    assert _f32(float("inf")) == float("inf")


I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.binary(max_size=80),
    price=st.floats(width=32),
    time=I64,
    last=I64,
    day=I64,
    bid=st.floats(width=32),
    ask=st.floats(width=32),
)
def test_arbitrary_frames(
    raw: bytes, price: float, time: int, last: int, day: int, bid: float, ask: float
) -> None:
    fields = {"id": "AAPL", "price": price, "time": time, "last_size": last, "day_volume": day}
    for body in (base64.b64encode(raw), frame(**fields, bid=bid, ask=ask)):
        try:
            out = parse(
                body, "yahoo", now_ns=BTC_MS * 10**6, max_past_ns=10**20, max_future_ns=10**20
            )
        except PermanentError as exc:
            assert exc.reason in REASONS
            continue
        assert len(out.ticks) + len(out.rejected) + out.skipped >= 1
        for _, t in out.ticks:
            assert t.size >= 0 and (t.bid is None or t.bid <= (t.ask or 0))
