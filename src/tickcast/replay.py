"""`tickcast replay`: publish a feed to tickcast-raw at a chosen speed.

- NDJSON: each line is one raw vendor message, published byte for byte,
  `--rate` lines per second (0: as fast as possible).
- CSV of OHLCV bars (columns open, high, low, close, volume; optional symbol
  and date): each row becomes one bar's worth of Alpaca trades (open, high,
  low, close in the order a real bar would print them), stamped inside the
  current bar so event time drives bar building, one row per `--interval`
  seconds. `--backfill N` stamps the first N rows into the N bars just past,
  so indicators warm up before the live replay starts.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tickcast.csvbars import ohlcv_columns
from tickcast.errors import TickcastError
from tickcast.schema import normalise_symbol

NS = 1_000_000_000


@dataclass(frozen=True)
class OHLCV:
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class Series:
    symbol: str
    rows: Sequence[OHLCV]


def rfc3339_ns(ts_ns: int) -> str:
    secs, frac = divmod(ts_ns, NS)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def alpaca_trades(
    symbol: str, row: OHLCV, bar_start_ns: int, bar_ns: int
) -> list[dict[str, object]]:
    """Four trades inside [bar_start, bar_start + bar): O, then H/L in bar order, then C."""
    path = (
        (row.open, row.low, row.high, row.close)
        if row.close >= row.open
        else (row.open, row.high, row.low, row.close)
    )
    size = row.volume / 4.0
    out = []
    for k, price in enumerate(path):
        ts = bar_start_ns + (2 * k + 1) * bar_ns // 10  # 10%, 30%, 50%, 70% into the bar
        out.append(
            {
                "T": "t",
                "S": symbol,
                "i": ts // 1000 + k,
                "x": "V",
                "p": round(price, 6),
                "s": size,
                "c": ["@"],
                "t": rfc3339_ns(ts),
                "z": "C",
            }
        )
    return out


class ReplayError(TickcastError, ValueError):
    """A feed file that cannot be replayed: a one-line message from the CLI."""


def read_csv(path: Path, symbol: str | None) -> list[Series]:
    by_symbol: dict[str, list[OHLCV]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = ohlcv_columns(reader.fieldnames, path, ReplayError)
        for n, rec in enumerate(reader, start=2):
            sym = (rec.get(cols["symbol"]) if "symbol" in cols else None) or symbol
            if not sym:
                raise ReplayError(f"{path}:{n}: no symbol column; pass --symbol")
            try:
                row = OHLCV(
                    *(float(rec[cols[c]]) for c in ("open", "high", "low", "close", "volume"))
                )
            except (TypeError, ValueError) as exc:
                raise ReplayError(f"{path}:{n}: {exc}") from None
            by_symbol.setdefault(normalise_symbol(sym), []).append(row)
    return [Series(s, rows) for s, rows in by_symbol.items()]


def bar_messages(
    series: Sequence[Series], bar_seconds: float, backfill: int = 0, limit: int | None = None
) -> Iterator[tuple[float, bytes]]:
    """(when to publish, body): the backfill as one batch, then one message per live bar.

    Each body is a JSON array of Alpaca trades. The backfill goes in one message
    (as a feed's catch-up would), so its bars close in one features invocation
    instead of one Pub/Sub round trip per bar.
    """
    bar_ns = int(bar_seconds * NS)
    length = max(len(s.rows) for s in series)
    if limit is not None:
        length = min(length, limit)
    now = time.time_ns()
    first_live = now - now % bar_ns + bar_ns  # the next bar boundary
    start = first_live - backfill * bar_ns

    def trades(i: int) -> list[dict[str, object]]:
        bar_start = start + i * bar_ns
        return [
            t
            for s in series
            if i < len(s.rows)
            for t in alpaca_trades(s.symbol, s.rows[i], bar_start, bar_ns)
        ]

    past = min(backfill, length)
    if past:
        yield now / NS, orjson.dumps([t for i in range(past) for t in trades(i)])
    for i in range(past, length):
        # A live bar's trades go out as its last one prints (70% into the bar).
        yield (start + i * bar_ns + 7 * bar_ns // 10) / NS, orjson.dumps(trades(i))


def ndjson_messages(path: Path, rate: float) -> Iterator[tuple[float, bytes]]:
    t0 = time.time()
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield (t0 + n / rate if rate > 0 else 0.0), line.strip()
                n += 1


def pace(
    messages: Iterable[tuple[float, bytes]],
    send: Callable[[bytes], None],
    stop: Callable[[], bool] = lambda: False,
) -> int:
    sent = 0
    for due, body in messages:
        while not stop() and (delay := due - time.time()) > 0:
            time.sleep(min(delay, 0.2))
        if stop():
            break
        send(body)
        sent += 1
    return sent
