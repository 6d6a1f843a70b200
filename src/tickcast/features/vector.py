"""The feature vector computed on each closed bar (pure).

The same class serves live (features stage) and training (`tickcast train`),
so training and serving cannot drift apart.

Session VWAP
------------
``vwap_session`` is the VWAP of the bars since the current trading session
started, in the session's own time zone: a ``SessionAnchor`` (a local time of day,
a zone, the weekdays on which a session starts), so its UTC time moves with daylight
saving. A bar belongs to the session in which it starts (``bar.t``); a session runs
until the next anchor, so a Friday session spans the weekend and a holiday is a
session without bars. ``TICKCAST_VWAP_ANCHOR`` chooses the anchor (``vwap_anchor``):

* ``HH:MM Zone/Name [days]``, e.g. ``09:30 America/New_York mon-fri``: for every
  symbol (a ``TICKCAST_SESSION`` window ``HH:MM-HH:MM ...`` is accepted, its start
  is used);
* ``bar``: every bar is a session of its own (daily bars; a replay whose bars each
  stand for a trading day, like ``tickcast demo``), so the VWAP is the bar's;
* ``auto`` (the default): the start of ``TICKCAST_SESSION`` when that is set (the
  ingest filter then keeps only that window's trades, for every symbol); otherwise
  by the symbol's market (``market``):

  - a currency pair ``BASE-QUOTE`` whose QUOTE is a currency (``CURRENCIES``: fiat,
    stablecoins, BTC, ETH) and whose BASE is not fiat (``BTC-USD``, ``ETH-USDT``,
    ``SOL-BTC``) is crypto, which trades around the clock: ``00:00 UTC``, every day;
  - a pair of two fiat currencies (``EUR-USD``, Yahoo's ``EURUSD=X``) is FX, whose
    trading day rolls at 17:00 New York (the value-date convention): ``17:00
    America/New_York sun-thu``, the week's first session opening Sunday evening;
  - anything else, and a FeatureSet built without a symbol, is a US equity or
    index: ``09:30 America/New_York mon-fri``, the regular-session open (pre-market
    trades, if not filtered out, count toward the previous session).

The VWAP is reported only once it covers its session from the start: after a
session start was crossed between two bars, or when a bar starts exactly at it.
State built fresh, loaded from a record without ``vwap_since`` (schema 1, whose
sessions were UTC days), or saved under another anchor reports ``vwap_session``
as missing (not ready, with the reason) until the next session start; a backfill
folds history through this class, so a history that crosses a session start makes
it ready.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tickcast import indicators as ind
from tickcast.config import Settings, settings
from tickcast.errors import ConfigError
from tickcast.schema import Bar

# The feature vector's names and meanings; model artifacts record the one they were
# trained on (predict/artifact.py), so it changes only with FEATURE_NAMES.
SCHEMA_VERSION = 1
# The state record's layout. 2: `vwap_anchor` and `vwap_since` replace 1's UTC `day`;
# a schema-1 record still loads, with the session VWAP not ready (see above).
STATE_VERSION = 2

# Names are part of the wire contract (features{} in tickcast-features).
FEATURE_NAMES: tuple[str, ...] = (
    "close",
    "ret_1",
    "sma_10",
    "sma_30",
    "sma_ratio",
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "bb_pctb",
    "atr_14",
    "vwap_session",
    "rv_20",
    "volume_z_20",
)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ANCHOR_RE = re.compile(
    r"^\s*(\d{1,2}):(\d{2})(?:\s*-\s*\d{1,2}:\d{2})?\s+(\S+)"
    r"(?:\s+([A-Za-z]{3})(?:-([A-Za-z]{3}))?)?\s*$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class SessionAnchor:
    """Where a session starts: ``at`` local time in ``zone`` on each of ``days``.

    Build it with ``parse``; ``spec`` is its canonical text, which the state record
    keeps so that a changed anchor is noticed.
    """

    spec: str
    at: time
    zone: ZoneInfo
    days: frozenset[int]  # Monday = 0
    per_bar: bool = False  # ``bar``: each bar is its own session

    @classmethod
    def parse(cls, spec: str, setting: str = "TICKCAST_VWAP_ANCHOR") -> SessionAnchor:
        """``HH:MM Zone/Name [ddd[-ddd]]`` or ``bar``; ``ValueError`` naming ``setting``."""
        return _parse_anchor(spec, setting)

    def start_on(self, day: date) -> int:
        """Epoch ms of the anchor time on local ``day`` (whatever its weekday)."""
        return (datetime.combine(day, self.at, self.zone) - _EPOCH) // _MS

    def window(self, t_ms: int) -> tuple[int, int]:
        """The session that holds epoch ms ``t_ms``: [its start, the next start)."""
        if self.per_bar:
            return t_ms, t_ms + 1
        day = (_EPOCH + t_ms * _MS).astimezone(self.zone).date()
        start = self.start_on(day)
        while start > t_ms or day.weekday() not in self.days:
            day -= _DAY
            start = self.start_on(day)
        day += _DAY
        while day.weekday() not in self.days:
            day += _DAY
        return start, self.start_on(day)


@lru_cache(maxsize=64)
def _parse_anchor(spec: str, setting: str) -> SessionAnchor:
    if spec.strip().lower() == "bar":
        return SessionAnchor("bar", time(0), ZoneInfo("UTC"), frozenset(range(7)), per_bar=True)
    m = _ANCHOR_RE.match(spec)
    if m is None:
        raise ValueError(
            f"{setting}={spec!r}: expected 'HH:MM Zone/Name [mon-fri]' or 'bar', e.g. "
            "'09:30 America/New_York mon-fri' or '00:00 UTC'"
        )
    hh, mm, zone, d1, d2 = m.groups()
    try:
        at = time(int(hh), int(mm))
        tz = ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ValueError(f"{setting}={spec!r}: {exc}") from None
    first, last = (d.lower() if d else None for d in (d1, d2))
    if first is None:
        days = frozenset(range(7))
    else:
        if first not in _DAYS or (last is not None and last not in _DAYS):
            raise ValueError(f"{setting}={spec!r}: days are mon..sun, e.g. mon-fri")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days = frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
    text = f"{at:%H:%M} {tz.key}"
    if len(days) < 7:
        text += f" {first}" + (f"-{last}" if last and last != first else "")
    return SessionAnchor(text, at, tz, days)


# Quote currencies of currency pairs; a fiat BASE as well makes the pair FX.
FIAT = frozenset(
    [
        "USD",
        "EUR",
        "JPY",
        "GBP",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "SEK",
        "NOK",
        "DKK",
        "HKD",
        "SGD",
        "CNH",
        "CNY",
        "MXN",
        "ZAR",
        "TRY",
        "PLN",
        "HUF",
        "CZK",
        "ILS",
        "KRW",
        "INR",
        "BRL",
        "TWD",
        "THB",
    ]
)
CURRENCIES = FIAT | {"USDT", "USDC", "DAI", "BTC", "ETH"}
_PAIR_RE = re.compile(r"^([A-Z0-9]{2,12})-([A-Z]{3,4})$")
_YAHOO_FX_RE = re.compile(r"^([A-Z]{3})?([A-Z]{3})=X$")

DEFAULT_ANCHORS = {
    "equity": "09:30 America/New_York mon-fri",
    "crypto": "00:00 UTC",
    "fx": "17:00 America/New_York sun-thu",
}


def market(symbol: str | None) -> str:
    """``"crypto"``, ``"fx"`` or ``"equity"`` (also for None), by the rule above."""
    s = (symbol or "").upper()
    pair = _PAIR_RE.match(s)
    if pair is not None and pair[2] in CURRENCIES:
        return "fx" if pair[1] in FIAT and pair[2] in FIAT else "crypto"
    fx = _YAHOO_FX_RE.match(s)
    if fx is not None and (fx[1] or "USD") in FIAT and fx[2] in FIAT:
        return "fx"
    return "equity"


def vwap_anchor(symbol: str | None, s: Settings | None = None) -> SessionAnchor:
    """The session anchor of ``symbol``'s VWAP under settings ``s`` (default: the
    instance's). Raises ``ConfigError`` naming the setting if it does not parse."""
    s = settings() if s is None else s
    spec, setting = s.vwap_anchor, "TICKCAST_VWAP_ANCHOR"
    if spec.strip().lower() == "auto":
        spec, setting = s.session, "TICKCAST_SESSION"
        if not spec.strip():
            spec, setting = DEFAULT_ANCHORS[market(symbol)], "default"
    try:
        return _parse_anchor(spec, setting)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _utc(ms: int) -> str:
    return (_EPOCH + ms * _MS).strftime("%Y-%m-%dT%H:%MZ")


class FeatureSet:
    """Indicator instances for one (symbol, interval); `update(bar)` per closed bar.

    ``symbol`` picks the VWAP's session anchor (``vwap_anchor``); ``anchor`` sets it.
    """

    def __init__(self, symbol: str | None = None, *, anchor: SessionAnchor | None = None) -> None:
        self.sma_10 = ind.SMA(10)
        self.sma_30 = ind.SMA(30)
        self.ema_12 = ind.EMA(12)
        self.ema_26 = ind.EMA(26)
        self.rsi_14 = ind.RSI(14)
        self.macd = ind.MACD(12, 26, 9)
        self.bb = ind.BollingerBands(20, 2.0)
        self.atr_14 = ind.ATR(14)
        self.vwap = ind.VWAP()
        self.ret = ind.LogReturn()
        self.rv_20 = ind.RealizedVolatility(20)
        self.vol_z = ind.ZScore(20)
        self.bars = 0
        self.anchor = vwap_anchor(symbol) if anchor is None else anchor
        # Epoch ms from which the VWAP's sums run: the session's start when they cover
        # all of it, else the first bar seen in it; None before any bar.
        self.vwap_since: int | None = None
        # Not state: the session of the last bar, [start, end), and whether the VWAP
        # covers it from its start (vwap_since == start).
        self._session = (0, 0)
        self._whole = False

    _PARTS = (
        "sma_10",
        "sma_30",
        "ema_12",
        "ema_26",
        "rsi_14",
        "macd",
        "bb",
        "atr_14",
        "vwap",
        "ret",
        "rv_20",
        "vol_z",
    )

    def _enter_session(self, t: int) -> None:
        """Bar time ``t`` is outside the last bar's session: find its session and, if it
        is another than the VWAP's, start the VWAP over."""
        start, end = self._session = self.anchor.window(t)
        since = self.vwap_since
        if since is not None and start <= since < end:
            self._whole = since == start  # the same session (nothing cached after a load)
            return
        self.vwap.reset()
        # A session start passed since the VWAP's last bar: it covers this session
        # whole. Otherwise nothing is known of the session before this bar (fresh or
        # lost state, an old record, another anchor): only a bar at its very start
        # makes it whole.
        self.vwap_since = start if since is not None and since < start else t
        self._whole = self.vwap_since == start

    def update(self, bar: Bar) -> tuple[dict[str, float | None], bool, str | None]:
        start, end = self._session
        if not start <= bar.t < end:
            self._enter_session(bar.t)
        self.bars += 1
        c = bar.c
        sma_10 = self.sma_10.update(c)
        sma_30 = self.sma_30.update(c)
        ema_12 = self.ema_12.update(c)
        ema_26 = self.ema_26.update(c)
        rsi = self.rsi_14.update(c)
        macd = self.macd.update(c)
        bb = self.bb.update(c)
        atr = self.atr_14.update(bar.h, bar.l, c)
        vwap = self.vwap.update(bar.vwap, bar.v)
        ret = self.ret.update(c)
        rv = self.rv_20.update(c)
        vol_z = self.vol_z.update(bar.v)
        pctb = None
        if bb is not None:
            width = bb.upper - bb.lower
            pctb = (c - bb.lower) / width if width > 0 else 0.5
        f: dict[str, float | None] = {
            "close": c,
            "ret_1": ret,
            "sma_10": sma_10,
            "sma_30": sma_30,
            "sma_ratio": (sma_10 / sma_30 - 1.0) if sma_10 is not None and sma_30 else None,
            "ema_12": ema_12,
            "ema_26": ema_26,
            "rsi_14": rsi,
            "macd": macd.macd if macd else None,
            "macd_signal": macd.signal if macd else None,
            "macd_hist": macd.histogram if macd else None,
            "bb_upper": bb.upper if bb else None,
            "bb_middle": bb.middle if bb else None,
            "bb_lower": bb.lower if bb else None,
            "bb_pctb": pctb,
            "atr_14": atr,
            "vwap_session": vwap if self._whole else None,
            "rv_20": rv,
            "volume_z_20": vol_z,
        }
        # A non-finite value (e.g. zero-variance z-score) is reported as missing.
        f = {k: (v if v is None or math.isfinite(v) else None) for k, v in f.items()}
        missing = [k for k in FEATURE_NAMES if f[k] is None and k not in _OPTIONAL]
        if missing:
            if not self._whole:
                i = missing.index("vwap_session")
                missing[i] += f" (a whole session: from {_utc(self._session[1])})"
            return f, False, f"warming_up: {self.bars} bars, waiting for {', '.join(missing)}"
        return f, True, None

    def state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "bars": self.bars,
            "vwap_anchor": self.anchor.spec,
            "vwap_since": self.vwap_since,
            **{p: getattr(self, p).state() for p in self._PARTS},
        }

    @classmethod
    def from_state(
        cls, d: dict[str, Any], symbol: str | None = None, *, anchor: SessionAnchor | None = None
    ) -> FeatureSet:
        """Restore a ``state()`` record; ``symbol`` and ``anchor`` as in the constructor.

        A schema-1 record, or one saved under another anchor, loads with the session
        VWAP not ready until the next session start: never a VWAP of the wrong span.
        """
        v = d.get("v")
        if v not in (1, STATE_VERSION):
            raise ValueError(f"feature state version {v!r} is not {STATE_VERSION} (or 1)")
        fs = cls(symbol, anchor=anchor)
        for p in cls._PARTS:
            setattr(fs, p, type(getattr(fs, p)).from_state(d[p]))
        fs.bars = int(d["bars"])
        if v == STATE_VERSION and d["vwap_anchor"] == fs.anchor.spec:
            since = d["vwap_since"]
            if since is not None and type(since) is not int:
                raise ValueError(f"feature state field 'vwap_since' must be an int, got {since!r}")
            fs.vwap_since = since
        return fs


# Volume z-score is undefined on a flat-volume window; the model treats it as 0.
_OPTIONAL = frozenset({"volume_z_20"})
