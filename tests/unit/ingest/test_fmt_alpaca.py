"""Alpaca market data v2, with the examples from Alpaca's documentation:
https://docs.alpaca.markets/docs/real-time-stock-pricing-data (stream trades, quotes, bars,
the wscat session), https://docs.alpaca.markets/docs/streaming-market-data (the error
frame), https://docs.alpaca.markets/reference/stockbars and
https://docs.alpaca.markets/reference/stocktrades (historical REST pages).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tickcast.ingest.formats import Parsed, alpaca

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


def test_corrections_and_cancels_are_dead_lettered_not_applied(wide: Parse, vendor: Vendor) -> None:
    [rej] = wide(vendor("alpaca/stream_correction.json")).rejected
    assert rej.reason == "correction_not_applied" and "never revised" in rej.error
    cancel = b'{"T":"x","S":"AAPL","i":1,"x":"V","p":1.0,"s":1,"a":"C","t":"2024-03-04T14:30:00Z","z":"C"}'
    [rej] = wide(cancel).rejected
    assert rej.reason == "correction_not_applied"


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
