"""History readers for `tickcast backfill`: local CSV/NDJSON and Polygon flat files in S3
(moto: S3 cannot run here)."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tickcast.backfill import polygon_flat
from tickcast.backfill.sources import BackfillError, epoch_ns, read_csv, read_ndjson

S = 1_000_000_000
T0 = 1_709_821_800 * S  # 2024-03-07 14:30:00 UTC
AGGS_HEADER = "ticker,volume,open,close,high,low,window_start,transactions\n"
TRADES_HEADER = (
    "ticker,conditions,correction,exchange,id,participant_timestamp,price,"
    "sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp\n"
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1709821800", T0),
        ("1709821800000", T0),
        ("1709821800000000", T0),
        ("1709821800000000123", T0 + 123),
        ("2024-03-07T14:30:00Z", T0),
        ("2024-03-07 09:30:00-05:00", T0),
        ("2024-03-07T14:30:00", T0),
    ],
)
def test_times_in_every_common_spelling(text: str, ns: int) -> None:
    assert epoch_ns(text) == ns


@pytest.mark.parametrize("text", ["", "yesterday", "12", "nan"])
def test_a_bad_time_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        epoch_ns(text)


def test_csv_bars_with_symbol_and_time_columns(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text(
        "Date,Symbol,Open,High,Low,Close,Volume\n"
        "2024-03-07T14:30:00Z,aapl,10,12,9,11,100\n"
        "2024-03-07T14:31:00Z,aapl,11,13,10,12,200\n"
        "2024-03-07T14:33:00Z,msft,1,-2,1,1,5\n"
        "2024-03-07T14:34:00Z,msft,1,2,1.5,1,5\n"
    )
    rejected: Counter[str] = Counter()
    rows = list(read_csv(f, None, None, rejected))
    assert [(s, t.ts, t.kind, t.bar_s, t.price) for s, t in rows] == [
        ("AAPL", T0, "bar", 60, 11.0),
        ("AAPL", T0 + 60 * S, "bar", 60, 12.0),
    ]
    assert rejected == {"invalid_bar": 2}  # high below low: not folded in


def test_csv_needs_a_time_column_and_a_symbol(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("open,high,low,close,volume\n1,1,1,1,1\n")
    with pytest.raises(BackfillError, match="no time column"):
        list(read_csv(f, None, None, Counter()))
    f.write_text("t,open,high,low,close,volume\n1709821800,1,1,1,1,1\n")
    with pytest.raises(BackfillError, match="pass --symbol"):
        list(read_csv(f, None, None, Counter()))
    f.write_text("t,open,high,low,close,volume\nlater,1,1,1,1,1\n")
    with pytest.raises(BackfillError, match=r"h\.csv:2:"):
        list(read_csv(f, "X", None, Counter()))


def test_ndjson_goes_through_ingest_parsers(tmp_path: Path) -> None:
    f = tmp_path / "feed.ndjson"
    trade = {
        "T": "t",
        "S": "AAPL",
        "i": 1,
        "x": "V",
        "p": 10.5,
        "s": 3,
        "t": "2020-01-02T15:00:00Z",
    }
    bad = {**trade, "i": 2, "p": -1}
    f.write_bytes(orjson.dumps([trade, bad]) + b"\n\n" + orjson.dumps(trade | {"i": 3}) + b"\n")
    rejected: Counter[str] = Counter()
    rows = list(read_ndjson(f, None, rejected))
    assert [(s, t.price) for s, t in rows] == [("AAPL", 10.5), ("AAPL", 10.5)]
    assert rejected == {"invalid_price": 1}
    f.write_bytes(b"{not json\n")
    with pytest.raises(BackfillError, match=r"feed\.ndjson:1: invalid_json"):
        list(read_ndjson(f, None, Counter()))


# --- Polygon flat files -------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    moto = pytest.importorskip("moto")
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        client = polygon_flat.s3_client(None)
        client.create_bucket(Bucket="flatfiles")
        yield client


def put(s3: Any, key: str, text: str) -> None:
    s3.put_object(Bucket="flatfiles", Key=key, Body=gzip.compress(text.encode()))


def read_all(
    s3: Any, url: str, symbols: frozenset[str] | None = None, **days: str
) -> tuple[list[tuple[str, Any]], Counter[str]]:
    src = polygon_flat.S3Source.parse(url)
    rejected: Counter[str] = Counter()
    out = []
    for key in polygon_flat.day_keys(s3, src, days.get("start"), days.get("end")):
        out += list(polygon_flat.read_day(s3, src.bucket, key, symbols, rejected))
    return out, rejected


def test_minute_aggregates_oldest_day_first_filtered_by_symbol(s3: Any) -> None:
    base = "us_stocks_sip/minute_aggs_v1/2024/03/"
    put(s3, base + "2024-03-08.csv.gz", AGGS_HEADER + f"AAPL,50,2,2.5,3,1.5,{T0 + 86400 * S},7\n")
    put(
        s3,
        base + "2024-03-07.csv.gz",
        AGGS_HEADER + f"AAPL,100,1,1.5,2,0.5,{T0},10\nMSFT,5,9,9,9,9,{T0},1\n",
    )
    put(s3, base + "README.txt", "not a day file")
    rows, rejected = read_all(s3, "s3://flatfiles/" + base, frozenset({"AAPL"}))
    assert [
        (s, t.ts, t.bar_s, t.open, t.high, t.low, t.price, t.size, t.trades) for s, t in rows
    ] == [
        ("AAPL", T0, 60, 1.0, 2.0, 0.5, 1.5, 100.0, 10),
        ("AAPL", T0 + 86400 * S, 60, 2.0, 3.0, 1.5, 2.5, 50.0, 7),
    ]
    assert not rejected
    later, _ = read_all(s3, "s3://flatfiles/" + base, None, start="2024-03-08")
    assert [t.ts for _, t in later] == [T0 + 86400 * S]


def test_day_aggregates_are_day_bars(s3: Any) -> None:
    put(
        s3,
        "us_stocks_sip/day_aggs_v1/2024/03/2024-03-07.csv.gz",
        AGGS_HEADER + f"SPY,1,1,1,1,1,{T0},1\n",
    )
    rows, _ = read_all(s3, "s3://flatfiles/us_stocks_sip/day_aggs_v1/")
    assert rows[0][1].bar_s == 86_400


def test_trades_skip_corrections_and_reject_bad_prices(s3: Any) -> None:
    body = TRADES_HEADER + "".join(
        f"AAPL,,{corr},4,{i},{T0 + i},{price},{i},{T0 + i * 1000},{size},3,,\n"
        for i, (corr, price, size) in enumerate(
            [(0, 10.0, 5), (1, 11.0, 5), (0, 0, 5), (0, 10.5, 2)]
        )
    )
    put(s3, "us_stocks_sip/trades_v1/2024/03/2024-03-07.csv.gz", body)
    rows, rejected = read_all(s3, "s3://flatfiles/us_stocks_sip/trades_v1")
    assert [(t.ts, t.price, t.size, t.kind) for _, t in rows] == [
        (T0, 10.0, 5.0, "trade"),
        (T0 + 3000, 10.5, 2.0, "trade"),
    ]
    assert rejected == {"correction_not_applied": 1, "invalid_price": 1}


def test_s3_errors_are_one_line(s3: Any) -> None:
    with pytest.raises(BackfillError, match="not an S3 URL"):
        polygon_flat.S3Source.parse("s3:/flatfiles")
    with pytest.raises(BackfillError, match="no daily files"):
        read_all(s3, "s3://flatfiles/nothing/here/")
    with pytest.raises(BackfillError, match="NoSuchBucket"):
        read_all(s3, "s3://missing-bucket/x/")
    put(s3, "odd/2024-03-07.csv.gz", "a,b\n1,2\n")
    with pytest.raises(BackfillError, match="neither Polygon aggregates nor trades"):
        read_all(s3, "s3://flatfiles/odd/")


def test_unreachable_redis_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tickcast import cli

    f = tmp_path / "h.csv"
    f.write_text("t,open,high,low,close,volume\n1709821800,1,1,1,1,1\n")
    monkeypatch.setenv("TICKCAST_REDIS_URL", "redis://127.0.0.1:1/0")
    assert cli.main(["backfill", str(f), "--symbol", "X"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tickcast: redis (redis://127.0.0.1:1/0):") and "\n" not in err


# --- symbols, flags, refs (issue #13) -------------------------------------------------------


def test_crypto_minute_aggregates_use_the_stream_symbol(s3: Any) -> None:
    """Polygon's global_crypto flat files name pairs like the REST API, X:BTCUSD
    (https://polygon.io/flat-files, https://polygon.io/docs/crypto/get_v2_aggs_ticker__cryptoticker__range__multiplier___timespan___from___to);
    they fold into BTC-USD, the symbol the live streams publish, and a --symbols filter in
    any spelling finds them."""
    put(
        s3,
        "global_crypto/minute_aggs_v1/2024/03/2024-03-07.csv.gz",
        AGGS_HEADER
        + f"X:BTCUSD,1.5,66000,66100,66200,65900,{T0},42\n"
        + f"X:ETHUSD,10,3800,3810,3820,3790,{T0},7\n",
    )
    rows, rejected = read_all(s3, "s3://flatfiles/global_crypto/minute_aggs_v1/")
    assert [(s, t.bar_s, t.price, t.size) for s, t in rows] == [
        ("BTC-USD", 60, 66100.0, 1.5),
        ("ETH-USD", 60, 3810.0, 10.0),
    ]
    assert not rejected
    for spelling in ("BTC/USD", "X:BTCUSD", "btc-usd"):
        only, _ = read_all(s3, "s3://flatfiles/global_crypto/", frozenset({spelling.upper()}))
        assert [s for s, _ in only] == ["BTC-USD"]


def test_flat_file_trades_carry_flags_seq_and_ref(s3: Any) -> None:
    """Trades rows have the REST trades fields
    (https://polygon.io/docs/stocks/get_v3_trades__stockticker): conditions give the flags
    (https://polygon.io/docs/stocks/get_v3_reference_conditions: 37 odd lot = volume only;
    15/16 official close/open update nothing, so they are counted, not folded),
    sequence_number the seq, exchange/id/trf_id the ref a live cancel would name."""
    body = TRADES_HEADER + (
        f'AAPL,"14,41",0,4,10,{T0},10.0,100,{T0 + 1},100,3,,\n'
        f"AAPL,37,0,4,11,{T0},10.1,101,{T0 + 2},5,3,202,{T0}\n"
        f"AAPL,15,0,12,12,{T0},10.2,102,{T0 + 3},0,3,,\n"
        f"AAPL,,0,4,13,{T0},10.3,103,{T0 + 4},7,3,,\n"
    )
    put(s3, "us_stocks_sip/trades_v1/2024/03/2024-03-07.csv.gz", body)
    rows, rejected = read_all(s3, "s3://flatfiles/us_stocks_sip/trades_v1")
    assert [(t.seq, t.flags, t.ref, t.conditions) for _, t in rows] == [
        (100, 7, "polygon:AAPL:4:10", ("14", "41")),
        (101, 4, "polygon:AAPL:4:11:202", ("37",)),
        (103, None, "polygon:AAPL:4:13", ()),
    ]
    assert rows[1][1].id == f"polygon:t:AAPL:4:11:202@{T0 + 2}"
    assert rejected == {"ineligible_condition": 1}


def test_ndjson_drops_trades_that_update_nothing(tmp_path: Path) -> None:
    """As ingest's filter does: a trade whose conditions update no part of a bar (Alpaca
    `M`, https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated) is
    counted, not folded; its cancel or correction is not a trade and passes through."""
    t = {"T": "t", "S": "BTC/USD", "i": 1, "x": "P", "p": 10.5, "s": 3, "t": "2020-01-02T15:00:00Z"}
    official = t | {"S": "SPY", "i": 2, "c": [" ", "M"], "z": "A"}
    fix = {"T": "c", "S": "SPY", "x": "P", "oi": 2, "cp": 10.4, "cs": 3, "cc": [" ", "M"]}
    fix |= {"z": "A", "t": "2020-01-02T15:00:01Z"}
    f = tmp_path / "feed.ndjson"
    f.write_bytes(orjson.dumps([t, official, fix]) + b"\n")
    rejected: Counter[str] = Counter()
    rows = list(read_ndjson(f, None, rejected))
    assert [(s, tk.kind) for s, tk in rows] == [("BTC-USD", "trade"), ("SPY", "correct")]
    assert rejected == {"ineligible_condition": 1}


def test_csv_symbols_are_normalised(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("t,ticker,open,high,low,close,volume\n1709821800,X:BTCUSD,1,1,1,1,1\n")
    assert [s for s, _ in read_csv(f, None, None, Counter())] == ["BTC-USD"]
    f.write_text("t,open,high,low,close,volume\n1709821800,1,1,1,1,1\n")
    assert [s for s, _ in read_csv(f, "eur/usd", None, Counter())] == ["EUR-USD"]


def test_warmer_names_symbols_as_ingest_does() -> None:
    from tickcast.backfill.warm import Warmer
    from tickcast.config import Settings
    from tickcast.schema import Tick

    w = Warmer(Settings.from_env({}))
    bar = Tick(ts=T0, price=1.0, size=1.0, kind="bar", open=1.0, high=1.0, low=1.0, bar_s=60)
    w.add("X:BTCUSD", bar)
    w.add("btc/usd", bar.model_copy(update={"ts": T0 + 60 * S}))
    w.add("not a symbol", bar)
    assert list(w.finish()) == ["BTC-USD"]
    assert w.summary["BTC-USD"].ticks == 2
    assert w.rejected == {"invalid_symbol": 1}


def test_tail_follows_the_normalised_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tickcast tail` checks and follows symbols as ingest publishes them."""
    from tickcast import cli
    from tickcast.bridge import reconnect

    seen: list[list[str]] = []

    async def follow(url: str, symbols: list[str], *a: Any, **k: Any) -> None:
        seen.append(list(symbols))

    monkeypatch.setattr(reconnect, "follow", follow)
    assert cli.main(["tail", "btc/usd", "X:ETHUSD", "aapl"]) == 0
    assert seen == [["BTC-USD", "ETH-USD", "AAPL"]]
    assert cli.main(["tail", "not a symbol"]) == 2
