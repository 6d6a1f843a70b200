"""Local history files -> (symbol, Tick) in file order.

- CSV of OHLCV bars: columns open, high, low, close, volume, a time column
  (`timestamp`, `time`, `date`, `t` or `window_start`: ISO 8601, or epoch
  seconds/ms/µs/ns told apart by magnitude) and optionally `symbol`/`ticker`.
  The bar length is the smallest gap between rows unless given.
- NDJSON of raw vendor messages (Alpaca, Polygon, Yahoo, tickcast), one per
  line, normalised by ingest's own parsers; elements it would reject, and
  trades whose conditions let them update nothing (`ineligible_condition`, as
  ingest's filter drops them), are counted by reason, not folded in.

Symbols go through schema.normalise_symbol, as ingest's do.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tickcast.csvbars import ohlcv_columns
from tickcast.errors import PermanentError, TickcastError
from tickcast.ingest import formats
from tickcast.ingest.formats._common import bar_seconds
from tickcast.schema import Tick, normalise_symbol

NS = 1_000_000_000
TIME_COLUMNS = ("timestamp", "time", "date", "t", "window_start")
SYMBOL_COLUMNS = ("symbol", "ticker")
FUTURE_NS = 60 * NS


class BackfillError(TickcastError, ValueError):
    """History that cannot be used: a one-line message from the CLI."""


def epoch_ns(text: str) -> int:
    """ISO 8601 (naive = UTC) or an epoch number in s, ms, µs or ns (by magnitude)."""
    text = text.strip()
    try:
        x = int(text) if text.isdigit() else float(text)  # int: ns exceed a float's precision
    except ValueError:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp()) * NS + dt.microsecond * 1000
    for scale in (1, 1000, 1_000_000, NS):  # ns, µs, ms, s: the first after 1973
        if math.isfinite(x) and x * scale >= 1e17:
            return int(x * scale) if isinstance(x, int) else round(x * scale)
    raise ValueError(f"not a time: {text!r}")


class RowError(ValueError):
    """One history row that is not folded in; `reason` uses ingest's reason codes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_FIELD_REASONS = {
    "price": "invalid_price",
    "open": "invalid_price",
    "high": "invalid_price",
    "low": "invalid_price",
    "size": "invalid_size",
    "trades": "invalid_size",
    "ts": "invalid_timestamp",
}


def make_tick(**fields: Any) -> Tick:
    try:
        return Tick(**fields)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        raise RowError(_FIELD_REASONS.get(str(loc[0]) if loc else "", "invalid_message")) from None


def bar_tick(
    symbol: str,
    ts: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    v: float,
    bar_s: int | None,
    n: int | None = None,
    source: str = "backfill",
) -> Tick:
    if not (lo <= o <= h and lo <= c <= h):  # also false for NaN
        raise RowError("invalid_bar")
    return make_tick(
        ts=ts,
        price=c,
        size=v,
        kind="bar",
        source=source,
        id=f"{source}:bar:{symbol}@{ts}",
        open=o,
        high=h,
        low=lo,
        trades=n,
        bar_s=bar_s,
    )


def read_csv(
    path: Path, symbol: str | None, bar_s: int | None, rejected: Counter[str]
) -> Iterator[tuple[str, Tick]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = ohlcv_columns(reader.fieldnames, path, BackfillError)
        time_col = next((cols[c] for c in TIME_COLUMNS if c in cols), None)
        if time_col is None:
            raise BackfillError(f"{path}: no time column (one of {', '.join(TIME_COLUMNS)})")
        sym_col = next((cols[c] for c in SYMBOL_COLUMNS if c in cols), None)
        rows: list[tuple[str, int, tuple[float, ...]]] = []
        for n, rec in enumerate(reader, start=2):
            sym = normalise_symbol((rec.get(sym_col) if sym_col else None) or symbol or "")
            if not sym:
                raise BackfillError(f"{path}:{n}: no symbol column; pass --symbol")
            try:
                ts = epoch_ns(rec[time_col] or "")
                ohlcv = tuple(
                    float(rec[cols[c]] or "nan") for c in ("open", "high", "low", "close", "volume")
                )
            except (TypeError, ValueError) as exc:
                raise BackfillError(f"{path}:{n}: {exc}") from None
            rows.append((sym, ts, ohlcv))
    length = bar_s or bar_seconds(sorted({ts for _, ts, _ in rows}))
    for sym, ts, (o, h, lo, c, v) in rows:
        try:
            yield sym, bar_tick(sym, ts, o, h, lo, c, v, length)
        except RowError as exc:
            rejected[exc.reason] += 1


def read_ndjson(
    path: Path, vendor: str | None, rejected: Counter[str]
) -> Iterator[tuple[str, Tick]]:
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                now = time.time_ns()
                # History is as old as it is: no stale check, only the future one.
                parsed = formats.parse(
                    line, vendor, now_ns=now, max_past_ns=now, max_future_ns=FUTURE_NS
                )
            except PermanentError as exc:
                raise BackfillError(f"{path}:{n}: {exc}") from None
            for r in parsed.rejected:
                rejected[r.reason] += 1
            for sym, tick in parsed.ticks:
                if tick.flags == 0 and tick.kind == "trade":
                    rejected["ineligible_condition"] += 1
                else:
                    yield sym, tick
