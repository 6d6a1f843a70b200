"""Fold history through the features stage's own bar and indicator code, then
commit one state record per symbol (compare-and-set, like the stage)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tickcast.backfill.sources import BackfillError
from tickcast.config import Settings
from tickcast.features.bars import NS_PER_MS
from tickcast.features.stage import Record
from tickcast.features.store import StateStore, state_key
from tickcast.schema import SYMBOL_RE, Bar, Tick, normalise_symbol

CHUNK = 4096  # ticks folded at a time: memory stays bounded on a day of trades


@dataclass
class Warmed:
    """What the backfill did to one symbol."""

    symbol: str
    ticks: int = 0
    bars: int = 0
    first_bar_ms: int | None = None
    last_bar_end_ms: int | None = None
    ready: bool = False
    reason: str | None = "no bars"


class Warmer:
    def __init__(self, s: Settings) -> None:
        self._s = s
        self.records: dict[str, Record] = {}
        self.summary: dict[str, Warmed] = {}
        self.rejected: Counter[str] = Counter()
        self._pending: dict[str, list[Tick]] = {}

    def add(self, symbol: str, tick: Tick) -> None:
        symbol = normalise_symbol(symbol)  # as ingest names it: X:BTCUSD -> BTC-USD
        if not SYMBOL_RE.fullmatch(symbol):
            self.rejected["invalid_symbol"] += 1
            return
        pending = self._pending.setdefault(symbol, [])
        pending.append(tick)
        if len(pending) >= CHUNK:
            self._fold(symbol)

    def _fold(self, symbol: str) -> None:
        ticks = self._pending.pop(symbol, [])
        rec = self.records.get(symbol)
        if rec is None:
            rec = self.records[symbol] = Record(self._s, None, symbol=symbol)
            self.summary[symbol] = Warmed(symbol)
        self.summary[symbol].ticks += len(ticks)
        self._bars(symbol, rec.bars.add(ticks))  # order within a chunk does not matter

    def _bars(self, symbol: str, bars: list[Bar]) -> None:
        rec, w = self.records[symbol], self.summary[symbol]
        for bar in bars:
            _, w.ready, w.reason = rec.features.update(bar)
            w.bars += 1
            w.first_bar_ms = bar.t if w.first_bar_ms is None else w.first_bar_ms
            w.last_bar_end_ms = bar.t + self._s.bar_ms

    def finish(self) -> dict[str, Warmed]:
        """Fold what is pending and close the last bars: the history is complete."""
        for symbol in list(self._pending):
            self._fold(symbol)
        for symbol, rec in self.records.items():
            end_ns = rec.bars.watermark_ns + (self._s.bar_ms + self._s.bar_grace_ms) * NS_PER_MS
            self._bars(symbol, rec.bars.advance(end_ns))
            rec.lost = False
        return self.summary


def existing(redis: Any, symbols: list[str], interval_s: int) -> list[str]:
    """Symbols that already have feature state (one round trip for all)."""
    pipe = redis.pipeline(transaction=False)
    for sym in symbols:
        pipe.exists(state_key(sym, interval_s))
    return [sym for sym, n in zip(symbols, pipe.execute(), strict=True) if n]


def commit(
    s: Settings, store: StateStore, records: dict[str, Record], replace: bool, now_ms: int
) -> None:
    for symbol, rec in records.items():
        data = rec.dump()

        def step(
            raw: dict[str, Any] | None,
            lost: bool,
            symbol: str = symbol,
            data: dict[str, Any] = data,
        ) -> tuple[dict[str, Any], None]:
            if raw is not None and not replace:
                # Went live (or another backfill ran) since we checked.
                raise BackfillError(f"{symbol}: feature state appeared meanwhile; pass --replace")
            return data, None

        store.update(symbol, s.bar_seconds, step, now_ms)
