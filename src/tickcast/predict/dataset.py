"""Training data: OHLCV series -> Bars -> the live feature code -> (inputs, label).

Features come from `FeatureSet.update(bar)`, the class the features stage runs
on every closed bar, and model inputs from `inputs.raw_inputs`, the function
serving calls: training and serving share every line between a bar and a model.

Label of the bar at index t: 1 if log(close[t + h] / close[t]) > 0, else 0
(h = horizon_bars; a flat move counts as not up). The last h bars of a series
have no label and are dropped. Each sample keeps `label_seq`, the time at which
its label became known, so a walk-forward split can drop training rows whose
label reaches into the test period.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tickcast.csvbars import ohlcv_columns
from tickcast.errors import TickcastError
from tickcast.features.vector import FeatureSet
from tickcast.predict.inputs import raw_inputs
from tickcast.schema import Bar

DAY_S = 86_400
ARCH_SERIES = {"sp500": "SPX", "nasdaq": "COMP"}


class DataError(TickcastError):
    """Input data that cannot be turned into bars."""


@dataclass(frozen=True)
class PriceSeries:
    symbol: str
    interval_s: int
    bars: tuple[Bar, ...]  # time order, one per interval that traded


@dataclass(frozen=True, eq=False)
class Samples:
    symbol: np.ndarray  # str per row
    seq: np.ndarray  # bar end, epoch ms (as on the wire)
    label_seq: np.ndarray  # end of the bar whose close decides the label
    x: np.ndarray  # (n, len(INPUT_NAMES)) raw inputs
    y: np.ndarray  # 0/1
    interval_s: int

    def __len__(self) -> int:
        return len(self.y)

    def take(self, mask: np.ndarray) -> Samples:
        return Samples(
            self.symbol[mask],
            self.seq[mask],
            self.label_seq[mask],
            self.x[mask],
            self.y[mask],
            self.interval_s,
        )


def bar(t_ms: int, o: float, h: float, low: float, c: float, v: float, vwap: float | None) -> Bar:
    # Daily files carry no VWAP; the typical price stands in for it.
    return Bar(t=t_ms, o=o, h=h, l=low, c=c, v=v, vwap=vwap or (h + low + c) / 3.0, n=1)


def from_arch(names: Iterable[str]) -> list[PriceSeries]:
    """Real daily S&P 500 / NASDAQ Composite bars shipped with `arch` (the [data] extra)."""
    try:
        from arch.data import nasdaq, sp500
    except ImportError:
        raise DataError(
            "the arch data sets need the `arch` package: pip install 'tickcast[data]'"
        ) from None
    loaders = {"sp500": sp500.load, "nasdaq": nasdaq.load}
    out = []
    for name in names:
        if name not in loaders:
            raise DataError(f"unknown arch series {name!r}: choose from {', '.join(loaders)}")
        frame = loaders[name]()
        bars = tuple(
            bar(
                int(ts.timestamp() * 1000),
                float(r.Open),
                float(r.High),
                float(r.Low),
                float(r.Close),
                float(r.Volume),
                None,
            )
            for ts, r in zip(frame.index, frame.itertuples(index=False), strict=True)
        )
        out.append(PriceSeries(ARCH_SERIES[name], DAY_S, bars))
    return out


_TIME_COLUMNS = ("date", "datetime", "timestamp", "time")
_START_MS = int(datetime(2000, 1, 3, tzinfo=UTC).timestamp() * 1000)


def _parse_time(text: str) -> int:
    text = text.strip()
    try:
        v = float(text)
    except ValueError:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)
    return int(v * 1000) if v < 1e11 else int(v)  # epoch seconds or milliseconds


def read_csv(path: Path, symbol: str | None = None, interval_s: int = DAY_S) -> list[PriceSeries]:
    """OHLCV rows (columns open, high, low, close, volume; optional symbol, date, vwap).

    Without a date column rows are taken as consecutive bars of `interval_s`.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows: dict[str, list[tuple[int, Bar]]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = ohlcv_columns(reader.fieldnames, path, DataError)
        time_col = next((cols[c] for c in _TIME_COLUMNS if c in cols), None)
        for line, rec in enumerate(reader, start=2):
            sym = ((rec.get(cols["symbol"]) if "symbol" in cols else None) or symbol or "").upper()
            if not sym:
                raise DataError(f"{path}:{line}: no symbol column; pass --symbol")
            try:
                o, h, low, c, v = (
                    float(rec[cols[k]]) for k in ("open", "high", "low", "close", "volume")
                )
                vwap = float(rec[cols["vwap"]]) if "vwap" in cols and rec[cols["vwap"]] else None
                t = _parse_time(rec[time_col]) if time_col else None
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path}:{line}: {exc}") from None
            if not all(math.isfinite(p) and p > 0 for p in (o, h, low, c)) or not v >= 0:
                raise DataError(f"{path}:{line}: prices must be positive and volume non-negative")
            series = rows.setdefault(sym, [])
            t = t if t is not None else _START_MS + len(series) * interval_s * 1000
            series.append((t, bar(t, o, h, low, c, v, vwap)))
    out = []
    for sym, items in rows.items():
        items.sort(key=lambda tb: tb[0])
        times = [t for t, _ in items]
        if len(set(times)) != len(times):
            raise DataError(f"{path}: {sym} has two rows with the same time")
        out.append(PriceSeries(sym, interval_s, tuple(b for _, b in items)))
    return out


def samples(series: Sequence[PriceSeries], horizon_bars: int) -> Samples:
    """Every ready bar with a known label, all series pooled, in time order."""
    if horizon_bars < 1:
        raise ValueError("horizon_bars must be >= 1")
    intervals = {s.interval_s for s in series}
    if len(intervals) != 1:
        raise DataError(f"series of different bar lengths cannot be pooled: {sorted(intervals)}")
    interval_ms = intervals.pop() * 1000
    sym, seq, label_seq, xs, ys = [], [], [], [], []
    for s in series:
        fs = FeatureSet()  # fresh state per series, as the live stage keeps per symbol
        closes = [b.c for b in s.bars]
        for i, b in enumerate(s.bars):
            features, ready, _ = fs.update(b)
            j = i + horizon_bars
            if not ready or j >= len(s.bars):
                continue
            sym.append(s.symbol)
            seq.append(b.t + interval_ms)
            label_seq.append(s.bars[j].t + interval_ms)
            xs.append(raw_inputs(features))
            ys.append(1.0 if math.log(closes[j] / closes[i]) > 0 else 0.0)
    if not ys:
        raise DataError("no labelled samples: the series are shorter than the indicator warm-up")
    order = np.lexsort((np.array(sym), np.array(seq)))
    return Samples(
        symbol=np.array(sym)[order],
        seq=np.array(seq, dtype=np.int64)[order],
        label_seq=np.array(label_seq, dtype=np.int64)[order],
        x=np.vstack(xs)[order],
        y=np.array(ys)[order],
        interval_s=interval_ms // 1000,
    )
