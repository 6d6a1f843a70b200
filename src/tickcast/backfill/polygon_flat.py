"""Polygon.io flat files in S3 -> (symbol, Tick), oldest file first.

Polygon publishes one gzipped CSV per day and dataset
(https://polygon.io/flat-files), e.g.
`s3://flatfiles/us_stocks_sip/minute_aggs_v1/2024/03/2024-03-07.csv.gz` or
`s3://flatfiles/global_crypto/minute_aggs_v1/2024/03/2024-03-07.csv.gz`
(endpoint https://files.polygon.io, your Polygon S3 keys as the usual AWS
credentials). The dataset is told from the header:

- aggregates (minute_aggs_v1, day_aggs_v1, for stocks, crypto and forex):
  ticker,volume,open,close,high,low,window_start,transactions
  (window_start in epoch ns; the bar length is 60 s, or a day for day_aggs);
- trades (trades_v1):
  ticker,conditions,correction,exchange,id,participant_timestamp,price,
  sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp
  (event time = sip_timestamp), the fields of the REST trades endpoint
  (https://polygon.io/docs/stocks/get_v3_trades__stockticker).

Tickers go through schema.normalise_symbol, as live ticks do: crypto `X:BTCUSD`
and forex `C:EURUSD` fold into BTC-USD and EUR-USD, the symbols the streams
publish. Trades get the live trades' `flags` (Polygon's condition rules,
ingest/formats/conditions.py), `seq` (sequence_number) and `ref`. Two kinds of
trade rows are counted and not folded in: a trade whose conditions let it
update nothing (`ineligible_condition`, as ingest drops it), and a trade with a
non-zero `correction`: Polygon keeps trades that were later canceled in its data
and flags them there (https://massive.com/knowledge-base/categories/trades),
and history is final, so such a trade did not stand (`correction_not_applied`).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tickcast.backfill.sources import BackfillError, RowError, bar_tick, make_tick
from tickcast.ingest.formats.conditions import polygon_stock_flags
from tickcast.ingest.formats.polygon import trade_key
from tickcast.schema import Tick, normalise_symbol

AGGS = ("ticker", "volume", "open", "close", "high", "low", "window_start")
TRADES = ("ticker", "id", "price", "sip_timestamp", "size")
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})\.csv(\.gz)?$")


@dataclass(frozen=True)
class S3Source:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Source:
        m = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", url)
        if not m:
            raise BackfillError(f"not an S3 URL: {url!r} (expected s3://bucket/prefix)")
        return cls(m.group(1), m.group(2) or "")


def s3_client(endpoint_url: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        raise BackfillError("reading S3 needs boto3: pip install 'tickcast[s3]'") from None
    return boto3.client("s3", endpoint_url=endpoint_url)


def day_keys(s3: Any, src: S3Source, start: str | None, end: str | None) -> list[str]:
    """The source's daily files within [start, end] (YYYY-MM-DD), oldest first."""
    from botocore.exceptions import BotoCoreError, ClientError

    keys: list[tuple[str, str]] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=src.bucket, Prefix=src.prefix
        ):
            for obj in page.get("Contents", []):
                m = _DAY.search(obj["Key"])
                if (
                    m
                    and (start is None or m.group(1) >= start)
                    and (end is None or m.group(1) <= end)
                ):
                    keys.append((m.group(1), obj["Key"]))
    except (BotoCoreError, ClientError) as exc:
        raise BackfillError(f"s3://{src.bucket}/{src.prefix}: {exc}") from None
    if not keys:
        raise BackfillError(
            f"no daily files (YYYY-MM-DD.csv.gz) under s3://{src.bucket}/{src.prefix}"
            + (f" between {start or '…'} and {end or '…'}" if start or end else "")
        )
    return [k for _, k in sorted(keys)]


def read_day(
    s3: Any, bucket: str, key: str, symbols: frozenset[str] | None, rejected: Counter[str]
) -> Iterator[tuple[str, Tick]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    raw = gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body
    reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    head = set(reader.fieldnames or ())
    where = f"s3://{bucket}/{key}"
    if symbols is not None:  # the caller's spelling (btc/usd, X:BTCUSD) meets the files'
        symbols = frozenset(normalise_symbol(s) for s in symbols)
    if head.issuperset(AGGS):
        bar_s = 86_400 if "day_aggs" in key else 60
        rows = _aggs(reader, bar_s, symbols, rejected)
    elif head.issuperset(TRADES):
        rows = _trades(reader, symbols, rejected)
    else:
        raise BackfillError(
            f"{where}: neither Polygon aggregates nor trades (header {sorted(head)})"
        )
    try:
        yield from rows
    except (KeyError, TypeError, ValueError) as exc:
        raise BackfillError(f"{where}:{reader.line_num}: {exc}") from None


def _aggs(
    reader: csv.DictReader[str], bar_s: int, symbols: frozenset[str] | None, rejected: Counter[str]
) -> Iterator[tuple[str, Tick]]:
    for r in reader:
        sym = normalise_symbol(r["ticker"])
        if symbols is not None and sym not in symbols:
            continue
        try:
            yield (
                sym,
                bar_tick(
                    sym,
                    int(r["window_start"]),
                    float(r["open"]),
                    float(r["high"]),
                    float(r["low"]),
                    float(r["close"]),
                    float(r["volume"]),
                    bar_s,
                    int(r["transactions"]) if r.get("transactions") else None,
                    source="polygon",
                ),
            )
        except RowError as exc:
            rejected[exc.reason] += 1


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip() else None


def _trades(
    reader: csv.DictReader[str], symbols: frozenset[str] | None, rejected: Counter[str]
) -> Iterator[tuple[str, Tick]]:
    for r in reader:
        sym = normalise_symbol(r["ticker"])
        if symbols is not None and sym not in symbols:
            continue
        if (r.get("correction") or "0") != "0":
            rejected["correction_not_applied"] += 1
            continue
        # "12,37": the condition ids, quoted by the CSV when there are several.
        codes = [int(c) for c in (r.get("conditions") or "").split(",") if c.strip()]
        flags = polygon_stock_flags(codes)
        if flags == 0:
            rejected["ineligible_condition"] += 1
            continue
        ts = int(r["sip_timestamp"])
        exchange = _int(r.get("exchange"))
        trf = _int(r.get("trf_id"))
        tail = f":{trf}" if trf is not None else ""
        try:
            yield (
                sym,
                make_tick(
                    ts=ts,
                    price=float(r["price"]),
                    size=float(r["size"]),
                    source="polygon",
                    id=f"polygon:t:{sym}:{exchange}:{r['id']}{tail}@{ts}",
                    conditions=tuple(map(str, codes)),
                    exchange=None if exchange is None else str(exchange),
                    seq=_int(r.get("sequence_number")),
                    flags=flags,
                    ref=trade_key(sym, exchange, r["id"] or None, trf),
                ),
            )
        except RowError as exc:
            rejected[exc.reason] += 1
