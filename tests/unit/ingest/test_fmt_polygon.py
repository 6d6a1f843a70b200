"""Polygon.io stocks, with the examples from Polygon's documentation:
https://polygon.io/docs/stocks/ws_stocks_t, https://polygon.io/docs/stocks/ws_stocks_q,
https://polygon.io/docs/stocks/ws_stocks_a, https://polygon.io/docs/stocks/ws_stocks_am,
https://polygon.io/docs/stocks/ws_stocks_luld and
https://polygon.io/docs/stocks/get_v2_aggs_ticker__stocksticker__range__multiplier___timespan___from___to
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tickcast.ingest.formats import Parsed

Parse = Callable[..., Parsed]
Vendor = Callable[[str], bytes]


def test_trade(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("polygon/ws_trade.json"))
    assert out.format == "polygon"
    [(sym, t)] = out.ticks
    assert sym == "MSFT"
    assert t.ts == 1_536_036_818_784_000_000  # Unix ms -> ns
    assert (t.price, t.size, t.kind, t.source) == (114.125, 100.0, "trade", "polygon")
    assert t.conditions == ("0", "12")
    assert t.exchange == "4"
    assert t.id == "polygon:t:MSFT:4:12345@1536036818784000000"


def test_trade_reporting_facility_is_part_of_the_id(wide: Parse, vendor: Vendor) -> None:
    msg = orjson.loads(vendor("polygon/ws_trade.json")) | {"trfi": 202, "trft": 1536036818785}
    assert (
        wide(orjson.dumps(msg)).ticks[0][1].id == "polygon:t:MSFT:4:12345:202@1536036818784000000"
    )


def test_quote(wide: Parse, vendor: Vendor) -> None:
    [(sym, t)] = wide(vendor("polygon/ws_quote.json")).ticks
    assert sym == "MSFT"
    assert t.kind == "quote"
    assert t.price == pytest.approx(114.1265)
    assert (t.bid, t.ask, t.bid_size, t.ask_size) == (114.125, 114.128, 100.0, 160.0)
    assert t.id == "polygon:q:MSFT:50385480@1536036818784000000"  # the sequence number


@pytest.mark.parametrize(
    ("name", "sym", "bar_s", "ts"),
    [
        ("polygon/ws_second_agg.json", "SPCE", 1, 1_610_144_868_000_000_000),
        ("polygon/ws_minute_agg.json", "GTE", 60, 1_610_144_640_000_000_000),
    ],
)
def test_aggregates(wide: Parse, vendor: Vendor, name: str, sym: str, bar_s: int, ts: int) -> None:
    [(got, t)] = wide(vendor(name)).ticks
    assert got == sym
    assert (t.kind, t.bar_s, t.ts) == ("bar", bar_s, ts)  # stamped with the window start
    msg = orjson.loads(vendor(name))
    assert (t.price, t.size, t.open, t.high, t.low, t.vwap) == (
        msg["c"],
        msg["v"],
        msg["o"],
        msg["h"],
        msg["l"],
        msg["vw"],
    )


def test_batch_frame_with_status(wide: Parse, vendor: Vendor) -> None:
    frame = [
        orjson.loads(vendor(f"polygon/{n}.json")) for n in ("ws_trade", "ws_quote", "ws_minute_agg")
    ]
    out = wide(orjson.dumps([*orjson.loads(vendor("polygon/ws_status.json")), *frame]))
    assert out.skipped == 1
    assert [t.kind for _, t in out.ticks] == ["trade", "quote", "bar"]


def test_failed_status_is_a_vendor_error(wide: Parse) -> None:
    out = wide(b'[{"ev":"status","status":"auth_failed","message":"authentication failed"}]')
    [rej] = out.rejected
    assert rej.reason == "vendor_error"
    assert "auth_failed" in rej.error


def test_luld_is_unsupported_even_though_it_has_a_T(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("polygon/ws_luld.json"))
    assert out.format == "polygon"
    [rej] = out.rejected
    assert rej.reason == "unsupported_message"


def test_rest_aggregates(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("polygon/rest_aggs.json"))
    assert [s for s, _ in out.ticks] == ["AAPL", "AAPL"]
    first = out.ticks[0][1]
    assert first.ts == 1_577_941_200_000_000_000
    assert (first.price, first.open, first.high, first.low) == (75.0875, 74.06, 75.15, 73.7975)
    assert (first.size, first.vwap, first.trades) == (135_647_456.0, 74.6099, 1)
    assert {t.bar_s for _, t in out.ticks} == {86_400}  # from next_url's /range/1/day/


def test_rest_timespan_hint_and_derived_length(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("polygon/rest_aggs.json"))
    del page["next_url"]
    assert {t.bar_s for _, t in wide(orjson.dumps(page)).ticks} == {86_400}  # derived
    page |= {"multiplier": 5, "timespan": "minute"}
    assert {t.bar_s for _, t in wide(orjson.dumps(page)).ticks} == {300}


def test_rest_page_keeps_good_bars(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("polygon/rest_aggs.json"))
    page["results"][0]["c"] = 0
    out = wide(orjson.dumps(page))
    assert [t.price for _, t in out.ticks] == [74.3575]
    [rej] = out.rejected
    assert rej.reason == "invalid_price"
    assert orjson.loads(rej.raw)["c"] == 0


def test_rest_error_page(wide: Parse) -> None:
    body = b'{"status":"ERROR","request_id":"abc","error":"Unknown API Key"}'
    [rej] = wide(body).rejected
    assert rej.reason == "vendor_error"
    assert "Unknown API Key" in rej.error
    assert rej.raw == body
