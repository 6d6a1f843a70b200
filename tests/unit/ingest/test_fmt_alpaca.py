"""Alpaca market data v2, with the examples from Alpaca's documentation:
https://docs.alpaca.markets/docs/real-time-stock-pricing-data (stream trades, quotes, bars,
the wscat session), https://docs.alpaca.markets/docs/streaming-market-data (the error
frame), https://docs.alpaca.markets/reference/stockbars and
https://docs.alpaca.markets/reference/stocktrades (historical REST pages),
https://docs.alpaca.markets/docs/real-time-crypto-pricing-data (the crypto stream: trade,
quote, bar with `vw` 0, orderbook, wscat session), and the undocumented cancel `x` and
correction `c` messages as Alpaca staff quoted them on
https://forum.alpaca.markets/t/what-is-a-type-x-message/7820 and
https://forum.alpaca.markets/t/message-type-c/8116 (fields as alpaca-py's TradeCancel and
TradeCorrection models map them). Condition flags follow
https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated; updated bars
`u`, https://forum.alpaca.markets/t/alpaca-market-data-update-bars/8947.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tickcast.ingest.formats import Parsed, alpaca
from tickcast.schema import FLAG_VOLUME, FLAGS_ALL

Parse = Callable[..., Parsed]
Vendor = Callable[[str], bytes]


def test_trade(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/stream_trade.json"))
    assert out.format == "alpaca"
    assert not out.rejected
    [(sym, t)] = out.ticks
    assert sym == "AAPL"
    assert t.ts == 1_614_009_104_208_000_000  # 2021-02-22T15:51:44.208Z
    assert (t.price, t.size, t.kind, t.source) == (126.55, 1.0, "trade", "alpaca")
    assert t.conditions == ("@", "I")
    assert t.exchange == "D"
    assert t.id == "alpaca:t:AAPL:D:96921@1614009104208000000"


def test_quote_keeps_nanoseconds(wide: Parse, vendor: Vendor) -> None:
    [(sym, t)] = wide(vendor("alpaca/stream_quote.json")).ticks
    assert sym == "AMD"
    assert t.ts == 1_614_009_105_335_689_322  # ...:45.335689322Z, every digit
    assert t.kind == "quote"
    assert t.price == pytest.approx(87.67)  # the mid
    assert (t.size, t.bid, t.ask, t.bid_size, t.ask_size) == (0.0, 87.66, 87.68, 1.0, 4.0)
    assert t.conditions == ("R",)
    assert t.id.startswith("alpaca:q:AMD:")


@pytest.mark.parametrize(("kind", "bar_s"), [("b", 60), ("u", 60), ("d", 86_400)])
def test_bars(wide: Parse, vendor: Vendor, kind: str, bar_s: int) -> None:
    msg = orjson.loads(vendor("alpaca/stream_bar.json")) | {"T": kind}
    [(sym, t)] = wide(orjson.dumps(msg)).ticks
    assert sym == "SPY"
    assert t.kind == "bar"
    assert t.ts == 1_614_021_300_000_000_000  # bar start, 2021-02-22T19:15:00Z
    assert (t.price, t.size, t.open, t.high, t.low) == (389.12, 49378.0, 388.985, 389.13, 388.975)
    assert (t.vwap, t.trades, t.bar_s) == (389.062639, 461, bar_s)


def test_updated_bar_is_not_a_duplicate_of_the_bar_it_corrects(wide: Parse, vendor: Vendor) -> None:
    bar = orjson.loads(vendor("alpaca/stream_bar.json"))
    updated = bar | {"T": "u", "c": 389.2, "h": 389.2, "v": 49500}
    ids = [t.id for _, t in wide(orjson.dumps([bar, updated])).ticks]
    assert len(set(ids)) == 2


def test_documented_session_as_ndjson(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/stream_session.ndjson"))
    assert not out.rejected
    assert out.skipped == 3  # connected, authenticated, subscription
    assert [(s, t.kind) for s, t in out.ticks] == [
        ("AMD", "quote"),
        ("AAPL", "trade"),
        ("AAPL", "trade"),
        ("AAPL", "trade"),
        ("AMD", "quote"),
    ]
    # 9 fractional digits, and 8 (".83915973Z" is 839159730 ns)
    assert out.ticks[1][1].ts == 1_680_782_066_838_232_225
    assert out.ticks[3][1].ts == 1_680_782_066_839_159_730
    assert len({t.id for _, t in out.ticks}) == 5


def test_error_frame_is_a_vendor_error(wide: Parse, vendor: Vendor) -> None:
    body = vendor("alpaca/stream_error.json")
    out = wide(body)
    assert not out.ticks
    [rej] = out.rejected
    assert rej.reason == "vendor_error"
    assert "406" in rej.error and "connection limit exceeded" in rej.error
    assert orjson.loads(rej.raw) == orjson.loads(body)[0]


def test_other_message_types_are_unsupported(wide: Parse, vendor: Vendor) -> None:
    [rej] = wide(vendor("alpaca/stream_status.json")).rejected
    assert rej.reason == "unsupported_message"


def test_trade_carries_flags_seq_and_ref(wide: Parse, vendor: Vendor) -> None:
    [(_, t)] = wide(vendor("alpaca/stream_trade.json")).ticks
    assert t.flags == FLAG_VOLUME  # "@", "I" on tape C: an odd lot counts in volume only
    assert t.seq == 96921  # the trade id orders trades with the same time
    assert t.ref == "alpaca:AAPL:D:96921"


def test_trades_with_the_same_time_are_ordered_by_trade_id(wide: Parse) -> None:
    a = {"T": "t", "S": "SPY", "i": 52983525028174, "x": "V", "p": 410.1, "s": 100}
    a |= {"c": ["@"], "z": "B", "t": "2023-04-06T14:25:06.542305024Z"}
    b = a | {"i": 52983525028175, "p": 410.11}
    seqs = [t.seq for _, t in wide(orjson.dumps([b, a])).ticks]
    assert seqs == [52983525028175, 52983525028174]  # arrival order kept, seq to re-sort


def test_cancel_names_the_trade_it_cancels(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/stream_cancel.json"))
    assert not out.rejected
    [(sym, x)] = out.ticks
    assert sym == "UPS"
    assert (x.kind, x.price, x.size, x.exchange) == ("cancel", 214.655, 10.0, "D")
    assert x.ts == 1_640_708_089_427_742_253
    original = {"T": "t", "S": "UPS", "i": 79371806259278, "x": "D", "p": 214.655, "s": 10}
    original |= {"c": [" "], "z": "A", "t": "2021-12-28T16:14:49.427742253Z"}
    [(_, trade)] = wide(orjson.dumps(original)).ticks
    assert x.ref == trade.ref == "alpaca:UPS:D:79371806259278"
    assert x.id != trade.id  # a cancel is not a duplicate of its trade


def test_error_action_is_a_cancel_too(wide: Parse, vendor: Vendor) -> None:
    msg = orjson.loads(vendor("alpaca/stream_cancel.json")) | {"a": "E"}
    [(_, x)] = wide(orjson.dumps(msg)).ticks
    assert x.kind == "cancel" and x.conditions == ("E",)


def test_correction_amends_the_original_trade(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/stream_correction.json"))
    assert not out.rejected
    [(sym, c)] = out.ticks
    assert sym == "EEM"
    assert c.kind == "correct"
    assert (c.price, c.size, c.conditions) == (39.1809, 440000.0, (" ", "7"))  # cp, cs, cc
    assert c.flags == FLAG_VOLUME  # cc has 7 (QCT) on tape B: volume only
    assert c.ts == 1_680_791_106_542_305_024
    original = {"T": "t", "S": "EEM", "i": 52983525033527, "x": "M", "p": 39.1582}
    original |= {"s": 440000, "c": [" ", "7"], "z": "B", "t": "2023-04-06T14:25:06.542305024Z"}
    [(_, trade)] = wide(orjson.dumps(original)).ticks
    assert c.ref == trade.ref == "alpaca:EEM:M:52983525033527"


def test_correction_flags_come_from_the_corrected_conditions(wide: Parse, vendor: Vendor) -> None:
    [(sym, c)] = wide(vendor("alpaca/stream_correction_iwm.json")).ticks
    assert (sym, c.kind, c.ref) == ("IWM", "correct", "alpaca:IWM:D:79372207866957")
    assert c.flags == FLAG_VOLUME  # cc " ", "7", "Z", "V" on tape B
    msg = orjson.loads(vendor("alpaca/stream_correction_iwm.json"))[0] | {"cc": [" "]}
    assert wide(orjson.dumps(msg)).ticks[0][1].flags == FLAGS_ALL


def test_correction_with_a_bad_price_is_rejected(wide: Parse, vendor: Vendor) -> None:
    msg = orjson.loads(vendor("alpaca/stream_correction.json")) | {"cp": 0}
    [rej] = wide(orjson.dumps(msg)).rejected
    assert rej.reason == "invalid_price" and "cp" in rej.error


def test_updated_bar_is_a_revision_of_the_bar(wide: Parse, vendor: Vendor) -> None:
    bar = orjson.loads(vendor("alpaca/stream_bar.json"))
    frame = [bar, bar | {"T": "u", "c": 389.2, "h": 389.2, "v": 49500}, bar | {"T": "d"}]
    [(_, b), (_, u), (_, d)] = wide(orjson.dumps(frame)).ticks
    assert (b.revision, u.revision, d.revision) == (None, 1, None)
    assert u.ts == b.ts  # the same start: features replaces the bar, no second one


def test_mixed_tape_gets_each_trades_flags(wide: Parse) -> None:
    """One frame of SIP trades, conditions as Alpaca's FAQ table rules them (minute bars)."""
    base = {"T": "t", "S": "SPY", "x": "P", "p": 410.0, "s": 100, "t": "2023-04-06T14:30:00Z"}
    tape = [
        ({"c": [" "], "z": "B"}, FLAGS_ALL),  # regular sale
        ({"c": ["@", "I"], "z": "C"}, FLAG_VOLUME),  # odd lot
        ({"c": [" ", "B"], "z": "A"}, FLAG_VOLUME),  # average price (CTS)
        ({"c": ["@", "B"], "z": "C"}, FLAGS_ALL),  # bunched (UTP)
        ({"c": ["@", "T"], "z": "C"}, FLAGS_ALL),  # extended hours: a minute bar takes it
        ({"c": ["@", "T", "I"], "z": "C"}, FLAG_VOLUME),  # ...unless an odd lot
        ({"c": [" ", "Z"], "z": "A"}, FLAG_VOLUME),  # sold out of sequence
        ({"c": ["@", "4"], "z": "C"}, FLAG_VOLUME),  # derivatively priced
        ({"c": [" ", "P"], "z": "A"}, FLAG_VOLUME),  # prior reference price
        ({"c": ["@", "V"], "z": "C"}, FLAG_VOLUME),  # contingent
        ({"c": [" ", "7"], "z": "B"}, FLAG_VOLUME),  # qualified contingent
        ({"c": ["@", "M"], "z": "C"}, 0),  # market center official close: nothing
        ({"c": [" ", "Q"], "z": "A"}, 0),  # market center official open: nothing
        ({"c": ["@", "9"], "z": "C"}, 0),  # corrected consolidated close (minute bar)
        ({}, None),  # no conditions: every part
    ]
    frame = [base | {"i": n} | extra for n, (extra, _) in enumerate(tape, 1)]
    out = wide(orjson.dumps(frame))
    assert not out.rejected
    assert [t.flags for _, t in out.ticks] == [flags for _, flags in tape]


def test_crypto_stream(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/crypto_stream.ndjson"))
    assert out.skipped == 3  # connected, authenticated, subscription
    [book] = out.rejected  # an orderbook is no tick
    assert book.reason == "unsupported_message" and orjson.loads(book.raw)["T"] == "o"
    [(s1, trade), (s2, quote), (s3, no_trades), (s4, bar)] = out.ticks
    assert (s1, s2, s3, s4) == ("AVAX-USD", "BAT-USD", "BTC-USD", "BTC-USD")
    assert (trade.kind, trade.size, trade.flags) == ("trade", 29.205707815, None)
    assert trade.seq == 3447222699101865076
    assert trade.ref == "alpaca:AVAX-USD:-:3447222699101865076"
    assert (quote.kind, quote.bid, quote.ask) == ("quote", 0.35718, 0.3581)
    # A bar without trades: quote mid prices, volume 0 and `vw` 0, which means no VWAP.
    assert (no_trades.kind, no_trades.size, no_trades.vwap, no_trades.trades) == (
        "bar",
        0.0,
        None,
        0,
    )
    assert (bar.size, bar.vwap, bar.trades) == (3.227759152, 26679.5912436798, 93)


def test_crypto_symbol_is_normalised(wide: Parse) -> None:
    body = b'{"T":"t","S":"BTC/USD","p":64050.06,"s":0.003059,"t":"2021-11-12T22:45:59.124309Z","i":7,"tks":"S"}'
    [(sym, t)] = wide(body).ticks
    assert sym == "BTC-USD"
    assert t.size == 0.003059
    assert t.id == "alpaca:t:BTC-USD:-:7@1636757159124309000"


def test_rest_bars_many_symbols(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/rest_bars_multi.json"))
    assert [s for s, _ in out.ticks] == ["AAPL", "TSLA"]
    aapl = out.ticks[0][1]
    assert (aapl.ts, aapl.price, aapl.size, aapl.trades) == (
        1_646_024_400_000_000_000,
        165.12,
        90_552_883.0,
        743_379,
    )
    assert aapl.bar_s is None  # one bar per symbol and no hint: length unknown


def test_rest_bars_timeframe_hint(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("alpaca/rest_bars_multi.json")) | {"timeframe": "1Day"}
    assert {t.bar_s for _, t in wide(orjson.dumps(page)).ticks} == {86_400}


def test_rest_bars_one_symbol_derives_length(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("alpaca/rest_bars_single.json"))
    assert [s for s, _ in out.ticks] == ["AAPL", "AAPL"]
    assert [t.bar_s for _, t in out.ticks] == [60, 60]
    assert out.ticks[1][1].vwap is None


def test_rest_trades_share_ids_with_the_stream(wide: Parse, vendor: Vendor) -> None:
    [(sym, t)] = wide(vendor("alpaca/rest_trades_multi.json")).ticks
    assert sym == "AAPL"
    assert t.ts == 1_641_200_400_086_175_744
    streamed = {"T": "t", "S": "AAPL", "i": 1, "x": "P", "p": 178.26, "s": 246}
    streamed |= {"c": ["@", "T"], "z": "C", "t": "2022-01-03T09:00:00.086175744Z"}
    assert wide(orjson.dumps(streamed)).ticks[0][1].id == t.id

    out = wide(vendor("alpaca/rest_trades_single.json"))
    assert [(s, t.ts, t.conditions) for s, t in out.ticks] == [
        ("SPY", 1_612_616_696_334_320_128, (" ", "T")),
        ("SPY", 1_612_616_982_325_484_032, (" ", "T")),
    ]


def test_rest_quotes(wide: Parse) -> None:
    page = {
        "quotes": [{"t": "2021-02-06T13:04:56.334320128Z", "bp": 1.0, "ap": 1.2}],
        "symbol": "X",
    }
    [(sym, t)] = wide(orjson.dumps(page)).ticks
    assert (sym, t.kind, t.bid, t.ask) == ("X", "quote", 1.0, 1.2)


def test_rest_page_keeps_good_bars_and_rejects_bad_ones(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("alpaca/rest_bars_single.json"))
    bad_bar = page["bars"][0] | {"v": -5}
    page["bars"].append(bad_bar)
    page["bars"][1]["t"] = "2021-02-01T16:03:00Z"
    out = wide(orjson.dumps(page))
    assert len(out.ticks) == 2
    [rej] = out.rejected
    assert rej.reason == "invalid_size"
    assert "v" in rej.error
    assert orjson.loads(rej.raw) == bad_bar


def test_rest_page_with_a_bad_symbol_rejects_that_symbol_only(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("alpaca/rest_bars_multi.json"))
    page["bars"]["bad sym"] = page["bars"]["TSLA"]
    out = wide(orjson.dumps(page))
    assert [s for s, _ in out.ticks] == ["AAPL", "TSLA"]
    [rej] = out.rejected
    assert rej.reason == "invalid_symbol"


def test_one_symbol_page_needs_its_symbol(wide: Parse, vendor: Vendor) -> None:
    page = orjson.loads(vendor("alpaca/rest_bars_single.json"))
    del page["symbol"]
    out = wide(orjson.dumps(page), "alpaca")
    assert not out.ticks
    assert {r.reason for r in out.rejected} == {"invalid_message"}


def test_timeframe_hints() -> None:
    assert alpaca._timeframe_s("5Min") == 300
    assert alpaca._timeframe_s("1Hour") == 3600
    assert alpaca._timeframe_s("1Month") is None  # months have no fixed length
    assert alpaca._timeframe_s("0Min") is None
