"""Polygon.io, with the examples from Polygon's documentation:
https://polygon.io/docs/stocks/ws_stocks_t, https://polygon.io/docs/stocks/ws_stocks_q,
https://polygon.io/docs/stocks/ws_stocks_a, https://polygon.io/docs/stocks/ws_stocks_am,
https://polygon.io/docs/stocks/ws_stocks_luld,
https://polygon.io/docs/stocks/get_v2_aggs_ticker__stocksticker__range__multiplier___timespan___from___to,
https://polygon.io/docs/stocks/get_v3_trades__stockticker (REST trades; the corrected row is
the mock in polygon-io/client-python test_rest/mocks/v3/trades), the crypto stream
https://polygon.io/docs/crypto/ws_crypto_xt, ..._xq, ..._xa, ..._xl2 and the forex stream
https://polygon.io/docs/forex/ws_forex_c, ..._ca (examples as in the client's
.polygon/websocket.json), crypto/forex aggregates pages (X:BTCUSD, C:EURUSD). Condition
flags: https://polygon.io/docs/stocks/get_v3_reference_conditions (update_rules.consolidated).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tickcast.ingest.formats import Parsed
from tickcast.schema import FLAG_HIGH_LOW, FLAG_LAST, FLAG_VOLUME, FLAGS_ALL

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


# --- flags, ties, refs --------------------------------------------------------------------------


def test_trade_carries_flags_seq_and_ref(wide: Parse, vendor: Vendor) -> None:
    [(_, t)] = wide(vendor("polygon/ws_trade.json")).ticks
    assert t.flags == FLAG_VOLUME  # c [0, 12]: Form T updates the volume only
    assert t.seq == 3681328  # `q`, increasing per ticker: orders equal millisecond times
    assert t.ref == "polygon:MSFT:4:12345"
    msg = orjson.loads(vendor("polygon/ws_trade.json")) | {"trfi": 202}
    assert wide(orjson.dumps(msg)).ticks[0][1].ref == "polygon:MSFT:4:12345:202"


def test_quote_carries_its_sequence_number(wide: Parse, vendor: Vendor) -> None:
    [(_, q)] = wide(vendor("polygon/ws_quote.json")).ticks
    assert q.seq == 50385480


def test_mixed_tape_gets_each_trades_flags(wide: Parse, vendor: Vendor) -> None:
    base = orjson.loads(vendor("polygon/ws_trade.json"))
    tape = [
        ([0], FLAGS_ALL),  # regular sale
        ([14, 41], FLAGS_ALL),  # intermarket sweep, trade-through exempt
        ([37], FLAG_VOLUME),  # odd lot
        ([2], FLAG_VOLUME),  # average price
        ([10], FLAG_HIGH_LOW | FLAG_VOLUME),  # derivatively priced
        ([22], FLAG_HIGH_LOW | FLAG_VOLUME),  # prior reference price
        ([32], FLAG_HIGH_LOW | FLAG_VOLUME),  # sold out of sequence
        ([52], FLAG_VOLUME),  # contingent
        ([53], FLAG_VOLUME),  # qualified contingent
        ([12], FLAG_VOLUME),  # Form T / extended hours
        ([12, 37], FLAG_VOLUME),
        ([15], 0),  # market center official close
        ([16], 0),  # market center official open
        ([38], FLAG_HIGH_LOW | FLAG_LAST),  # corrected consolidated close: no volume
        ([], None),
        (None, None),
    ]
    frame = [base | {"i": str(n), "q": n, "c": c} for n, (c, _) in enumerate(tape, 1)]
    out = wide(orjson.dumps(frame))
    assert not out.rejected
    assert [t.flags for _, t in out.ticks] == [flags for _, flags in tape]
    assert [t.seq for _, t in out.ticks] == list(range(1, len(tape) + 1))


# --- REST trades, corrections -------------------------------------------------------------------


def test_rest_trades_page(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("polygon/rest_trades.json"))
    assert out.format == "polygon" and not out.rejected
    [(s1, a), (s2, b)] = out.ticks
    assert (s1, s2) == ("AAPL", "AAPL")
    assert (a.ts, a.price, a.size, a.kind) == (1517562000016036600, 171.55, 100.0, "trade")
    assert (a.seq, b.seq) == (1063, 1064)
    assert a.flags == FLAG_VOLUME  # 12 (Form T) with 41
    assert (a.ref, a.exchange) == ("polygon:AAPL:11:1", "11")


def test_rest_trade_with_a_correction_is_a_cancel_of_that_trade(
    wide: Parse, vendor: Vendor
) -> None:
    [(sym, x)] = wide(vendor("polygon/rest_trades_corrected.json")).ticks
    assert (sym, x.kind) == ("AAPL", "cancel")
    assert x.ref == "polygon:AAPL:11:183276:3"  # exchange, id and TRF, as the stream names it
    streamed = {"ev": "T", "sym": "AAPL", "x": 11, "i": "183276", "trfi": 3, "p": 156.43}
    streamed |= {"s": 10, "c": [12, 37], "t": 1651181822461, "q": 7179341}
    assert wide(orjson.dumps(streamed)).ticks[0][1].ref == x.ref


def test_rest_trades_page_needs_the_ticker(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("polygon/rest_trades.json"))
    del page["ticker"]
    [rej] = wide(orjson.dumps(page), "polygon").rejected
    assert rej.reason == "invalid_message" and "ticker" in rej.error


def test_rest_trades_page_keeps_good_rows(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("polygon/rest_trades.json"))
    page["results"][0]["price"] = -1
    out = wide(orjson.dumps(page))
    assert [t.seq for _, t in out.ticks] == [1064]
    [rej] = out.rejected
    assert rej.reason == "invalid_price"
    page["results"][0]["price"] = 171.55
    del page["results"][0]["sip_timestamp"]  # a first row without its time: still a trades page
    out = wide(orjson.dumps(page))
    assert [t.seq for _, t in out.ticks] == [1064]
    assert [r.reason for r in out.rejected] == ["invalid_message"]


# --- crypto and forex ---------------------------------------------------------------------------


def test_crypto_trade(wide: Parse, vendor: Vendor) -> None:
    [(sym, t)] = wide(vendor("polygon/ws_crypto_trade.json")).ticks
    assert sym == "BTC-USD"
    assert (t.kind, t.price, t.size, t.ts) == ("trade", 33021.9, 0.01616617, 1610462007425000000)
    # c [2] is "buyside" on the crypto feed, not condition 2 (Average Price) of stocks.
    assert (t.conditions, t.flags) == (("2",), None)
    assert (t.exchange, t.ref) == ("3", "polygon:BTC-USD:3:14272084")


def test_crypto_quote_and_aggregate(wide: Parse, vendor: Vendor) -> None:
    [(sym, q)] = wide(vendor("polygon/ws_crypto_quote.json")).ticks
    assert (sym, q.kind, q.bid, q.ask, q.bid_size, q.ask_size) == (
        "BTC-USD",
        "quote",
        33052.79,
        33073.19,
        0.48,
        0.601,
    )
    [(sym, b)] = wide(vendor("polygon/ws_crypto_agg.json")).ticks
    assert (sym, b.kind, b.bar_s, b.ts, b.size, b.vwap) == (
        "BCD-USD",
        "bar",
        60,
        1610463240000000000,
        951.6112,
        0.7756,
    )
    msg = orjson.loads(vendor("polygon/ws_crypto_agg.json")) | {"ev": "XAS"}
    assert wide(orjson.dumps(msg)).ticks[0][1].bar_s == 1


def test_crypto_level2_is_unsupported(wide: Parse, vendor: Vendor) -> None:
    [rej] = wide(vendor("polygon/ws_crypto_l2.json")).rejected
    assert rej.reason == "unsupported_message" and "XL2" in rej.error


def test_forex_quote_and_aggregate(wide: Parse, vendor: Vendor) -> None:
    [(sym, q)] = wide(vendor("polygon/ws_forex_quote.json")).ticks
    assert (sym, q.kind, q.bid, q.ask, q.exchange) == ("USD-CNH", "quote", 6.83363, 6.83366, "44")
    assert q.price == pytest.approx(6.833645)
    [(sym, b)] = wide(vendor("polygon/ws_forex_agg.json")).ticks
    assert (sym, b.kind, b.bar_s, b.price, b.size) == ("USD-EUR", "bar", 60, 0.86889, 20.0)
    crossed = orjson.loads(vendor("polygon/ws_forex_quote.json")) | {"b": 7.0}
    assert wide(orjson.dumps(crossed)).rejected[0].reason == "crossed_quote"


@pytest.mark.parametrize(
    ("name", "sym"),
    [("polygon/rest_crypto_aggs.json", "BTC-USD"), ("polygon/rest_forex_aggs.json", "EUR-USD")],
)
def test_crypto_and_forex_rest_pages_use_the_stream_symbol(
    wide: Parse, vendor: Vendor, name: str, sym: str
) -> None:
    out = wide(vendor(name))
    assert not out.rejected
    assert {s for s, _ in out.ticks} == {sym}  # X:BTCUSD / C:EURUSD, as the streams name them
