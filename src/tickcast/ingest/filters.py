"""Ingest filters from Settings (pure). All but the first are off by default.

Filtered ticks are counted (the `ingested` log line's `filtered` map, which a
log-based metric reads), never dead-lettered: they are valid, just unwanted.

- always: a trade whose condition codes let it update no part of a bar (`flags` 0:
  e.g. a market center's official open/close print, Alpaca `M`/`Q`, Polygon 15/16,
  see formats/conditions.py) is dropped as `ineligible_condition`: it would reach
  features only to be ignored. Cancels and corrections are kept whatever their
  flags: a correction to an ineligible trade still takes the original out;
- symbol allowlist / denylist, each entry normalised like the feeds' symbols
  (schema.normalise_symbol: `btc/usd`, `X:BTCUSD` and `BTC-USD` are one symbol);
- price range: on the trade price, the quote mid, the bar close;
- minimum size: trades only (a quote's size is 0 by construction);
- trading session: `HH:MM-HH:MM ZONE [DAYS]` in the exchange's time zone,
  e.g. `09:30-16:00 America/New_York mon-fri`; start inclusive, end exclusive.
  Daily (or longer) vendor bars are stamped at midnight, so they are not
  session-filtered.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tickcast.config import Settings
from tickcast.errors import ConfigError
from tickcast.schema import Tick, normalise_symbol

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SESSION_RE = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s+(\S+)(?:\s+([A-Za-z]{3})(?:-([A-Za-z]{3}))?)?\s*$"
)


@dataclass(frozen=True)
class Session:
    start: time
    end: time
    zone: ZoneInfo
    days: frozenset[int]  # Monday = 0

    @classmethod
    def parse(cls, spec: str) -> Session:
        m = _SESSION_RE.match(spec)
        if m is None:
            raise ConfigError(
                f"TICKCAST_SESSION={spec!r}: expected 'HH:MM-HH:MM Zone/Name [mon-fri]'"
            )
        h1, m1, h2, m2, zone, d1, d2 = m.groups()
        d1, d2 = (d.lower() if d else None for d in (d1, d2))
        try:
            start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
            tz = ZoneInfo(zone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ConfigError(f"TICKCAST_SESSION={spec!r}: {exc}") from None
        if d1 is None:
            days = frozenset(range(7))
        else:
            if d1 not in _DAYS or (d2 is not None and d2 not in _DAYS):
                raise ConfigError(f"TICKCAST_SESSION={spec!r}: days are mon..sun")
            a, b = _DAYS.index(d1), _DAYS.index(d2 or d1)
            days = (
                frozenset(range(a, b + 1))
                if a <= b
                else frozenset([*range(a, 7), *range(0, b + 1)])
            )
        if start >= end:
            raise ConfigError(f"TICKCAST_SESSION={spec!r}: the window must end after it starts")
        return cls(start, end, tz, days)

    def contains(self, ts_ns: int) -> bool:
        local = datetime.fromtimestamp(ts_ns / 1e9, UTC).astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end


def _symbols(csv: str) -> frozenset[str]:
    return frozenset(normalise_symbol(s) for s in csv.split(",") if s.strip())


@dataclass(frozen=True)
class TickFilter:
    allow: frozenset[str]
    deny: frozenset[str]
    min_price: float
    max_price: float
    min_size: float
    session: Session | None

    @classmethod
    def from_settings(cls, s: Settings) -> TickFilter:
        if s.max_price and s.min_price > s.max_price:
            raise ConfigError("TICKCAST_MIN_PRICE is above TICKCAST_MAX_PRICE")
        return cls(
            allow=_symbols(s.symbol_allowlist),
            deny=_symbols(s.symbol_denylist),
            min_price=s.min_price,
            max_price=s.max_price,
            min_size=s.min_size,
            session=Session.parse(s.session) if s.session.strip() else None,
        )

    @property
    def active(self) -> bool:
        """Whether a configured filter is on (`ineligible_condition` always is)."""
        return bool(
            self.allow
            or self.deny
            or self.min_price
            or self.max_price
            or self.min_size
            or self.session
        )

    def reason(self, symbol: str, t: Tick) -> str | None:
        """Why this tick is filtered out, or None to keep it."""
        if self.allow and symbol not in self.allow:
            return "symbol_not_allowed"
        if symbol in self.deny:
            return "symbol_denied"
        if t.flags == 0 and t.kind == "trade":
            return "ineligible_condition"
        if self.min_price and t.price < self.min_price:
            return "price_below_min"
        if self.max_price and t.price > self.max_price:
            return "price_above_max"
        if self.min_size and t.kind == "trade" and t.size < self.min_size:
            return "size_below_min"
        if self.session is not None and (t.bar_s or 0) < 86_400 and not self.session.contains(t.ts):
            return "outside_session"
        return None

    def apply(
        self, ticks: Iterable[tuple[str, Tick]]
    ) -> tuple[list[tuple[str, Tick]], Counter[str]]:
        kept: list[tuple[str, Tick]] = []
        counts: Counter[str] = Counter()
        for symbol, tick in ticks:
            why = self.reason(symbol, tick)
            if why is None:
                kept.append((symbol, tick))
            else:
                counts[why] += 1
        return kept, counts
