"""Session VWAP in the feature vector: it starts over at the session's start in the
session's own time zone (09:30 New York for US equities, 00:00 UTC for crypto,
17:00 New York for FX), never at UTC midnight by accident, and it is reported only
once it covers a session from its start (fresh state, an old record, another anchor).

Times are written in UTC with the New York offset beside them: EST is UTC-5 (winter),
EDT UTC-4 (summer; 2024: from Sunday 10 March to Sunday 3 November)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from tickcast.config import Settings
from tickcast.errors import ConfigError
from tickcast.features.vector import (
    FEATURE_NAMES,
    FeatureSet,
    SessionAnchor,
    market,
    vwap_anchor,
)
from tickcast.schema import Bar

MIN = 60_000
DEFAULTS = Settings()  # TICKCAST_VWAP_ANCHOR=auto, no TICKCAST_SESSION: by symbol


def utc(text: str) -> int:
    """Epoch ms of '2024-07-16 13:30' read as UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def bar(t: int, price: float, volume: float = 100.0) -> Bar:
    return Bar(t=t, o=price, h=price + 1, l=price - 1, c=price, v=volume, vwap=price, n=1)


def features(symbol: str | None = "AAPL", settings: Settings = DEFAULTS) -> FeatureSet:
    return FeatureSet(symbol, anchor=vwap_anchor(symbol, settings))


def vwaps(fs: FeatureSet, bars: list[Bar]) -> list[float | None]:
    return [fs.update(b)[0]["vwap_session"] for b in bars]


def expected(bars: list[Bar], resets: set[int]) -> list[float]:
    """The VWAP of each bar since the latest bar index in `resets` (0 included)."""
    out, pv, vol = [], [0.0], [0.0]
    for i, b in enumerate(bars):
        if i in resets or i == 0:
            pv, vol = [], []
        pv.append(b.vwap * b.v)
        vol.append(b.v)
        out.append(math.fsum(pv) / math.fsum(vol))
    return out


def series(times: list[int]) -> list[Bar]:
    """Distinct prices and volumes, so a reset anywhere changes the VWAP."""
    return [bar(t, 100.0 + 3 * i + (i % 4), 10.0 + 7 * i) for i, t in enumerate(times)]


def assert_vwaps(got: list[float | None], want: list[float]) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g is not None and g == pytest.approx(w, rel=1e-13), f"bar {i}: {g} != {w}"


# ---------------------------------------------------------------- US equities


@pytest.mark.parametrize(
    "open_utc, midnight",
    [
        ("2024-01-16 14:30", "2024-01-17 00:00"),  # 09:30 EST; 19:00 EST, after hours
        ("2024-07-16 13:30", "2024-07-17 00:00"),  # 09:30 EDT; 20:00 EDT
    ],
    ids=["winter", "summer"],
)
def test_utc_midnight_inside_a_us_session_does_not_reset_the_vwap(
    open_utc: str, midnight: str
) -> None:
    m = utc(midnight)
    bars = series([utc(open_utc), utc(open_utc) + 90 * MIN, m - 2 * MIN, m - MIN, m, m + MIN])
    # The first bar opens the session, so the VWAP is whole from it; no reset after.
    assert_vwaps(vwaps(features("AAPL"), bars), expected(bars, set()))


@pytest.mark.parametrize(
    "day, open_hour",
    [("2024-01-17", 14), ("2024-07-17", 13)],  # 09:30 EST = 14:30 UTC, 09:30 EDT = 13:30 UTC
    ids=["winter", "summer"],
)
def test_us_session_vwap_starts_over_at_0930_new_york(day: str, open_hour: int) -> None:
    prev_open = utc(f"{day} {open_hour}:30") - 86_400_000  # the day before, 09:30 local
    times = [prev_open, prev_open + 60 * MIN]
    times += [utc(f"{day} 12:00") + k * 30 * MIN for k in range(9)]  # 12:00 .. 16:00 UTC
    bars = series(times)
    reset = times.index(utc(f"{day} {open_hour}:30"))
    got = vwaps(features("AAPL"), bars)
    assert_vwaps(got, expected(bars, {reset}))
    assert got[reset] == bars[reset].vwap  # the session's first bar is its VWAP
    assert got[reset - 1] != bars[reset - 1].vwap  # nothing started over before 09:30


@pytest.mark.parametrize(
    "friday_open, monday, monday_open",
    [
        # Clocks go forward on Sunday 10 March: Friday opens 14:30 UTC, Monday 13:30 UTC.
        ("2024-03-08 14:30", "2024-03-11", "2024-03-11 13:30"),
        # Clocks go back on Sunday 3 November: Friday opens 13:30 UTC, Monday 14:30 UTC.
        ("2024-11-01 13:30", "2024-11-04", "2024-11-04 14:30"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_the_open_moves_in_utc_across_a_dst_change(
    friday_open: str, monday: str, monday_open: str
) -> None:
    times = [utc(friday_open), utc(friday_open) + 6 * 60 * MIN]
    times.append(times[0] + 86_400_000)  # Saturday: still Friday's session (mon-fri)
    times += [utc(f"{monday} 13:00") + k * 30 * MIN for k in range(5)]  # 13:00 .. 15:00
    bars = series(times)
    got = vwaps(features("AAPL"), bars)
    assert_vwaps(got, expected(bars, {times.index(utc(monday_open))}))


def test_pre_market_bars_count_toward_the_previous_session() -> None:
    """Pre-market bars count toward the previous session (not filtered here); the
    first bar at or after 09:30 starts the new one even if 09:30 itself had none."""
    times = [utc("2024-07-16 13:30"), utc("2024-07-17 12:00"), utc("2024-07-17 13:45")]
    bars = series(times)
    assert_vwaps(vwaps(features("AAPL"), bars), expected(bars, {2}))


# ---------------------------------------------------------------- crypto, FX


def test_crypto_starts_over_at_utc_midnight_every_day() -> None:
    times = [utc("2024-07-13 00:00")]  # a Saturday: crypto has no weekend
    times += [utc("2024-07-13 13:30"), utc("2024-07-13 23:59")]  # 09:30 EDT: no reset
    times += [utc("2024-07-14 00:00"), utc("2024-07-14 00:01"), utc("2024-07-15 00:00")]
    bars = series(times)
    assert_vwaps(vwaps(features("BTC-USD"), bars), expected(bars, {3, 5}))


def test_crypto_fresh_state_waits_for_utc_midnight() -> None:
    fs = features("ETH-USDT")
    assert vwaps(fs, series([utc("2024-07-16 13:30"), utc("2024-07-16 23:59")])) == [None, None]
    assert vwaps(fs, [bar(utc("2024-07-17 00:00"), 7.0)]) == [7.0]


def test_fx_sessions_roll_at_1700_new_york_sunday_to_thursday() -> None:
    times = [
        utc("2024-07-17 21:00"),  # Wed 17:00 EDT: a session starts
        utc("2024-07-17 23:00"),
        utc("2024-07-18 20:59"),  # Thu 16:59 EDT: same session
        utc("2024-07-18 21:00"),  # Thu 17:00 EDT: the week's last session
        utc("2024-07-19 21:00"),  # Fri 17:00 EDT: no new session on Friday
        utc("2024-07-21 21:00"),  # Sun 17:00 EDT: the new week's first
    ]
    bars = series(times)
    assert_vwaps(vwaps(features("EUR-USD"), bars), expected(bars, {3, 5}))


@pytest.mark.parametrize(
    "symbol, kind",
    [
        ("AAPL", "equity"),
        ("BRK.B", "equity"),
        ("BRK-B", "equity"),  # Yahoo's class shares: B is not a currency
        ("^GSPC", "equity"),
        ("SPX", "equity"),
        (None, "equity"),
        ("BTC-USD", "crypto"),
        ("ETH-USDT", "crypto"),
        ("ETH-BTC", "crypto"),
        ("SOL-EUR", "crypto"),
        ("USDT-USD", "crypto"),
        ("EUR-USD", "fx"),
        ("USD-JPY", "fx"),
        ("EURUSD=X", "fx"),
        ("JPY=X", "fx"),
    ],
)
def test_market_of_a_symbol(symbol: str | None, kind: str) -> None:
    assert market(symbol) == kind


def test_default_anchors_by_market() -> None:
    specs = {s: vwap_anchor(s, DEFAULTS).spec for s in ("AAPL", "BTC-USD", "EUR-USD", None)}
    assert specs == {
        "AAPL": "09:30 America/New_York mon-fri",
        "BTC-USD": "00:00 UTC",
        "EUR-USD": "17:00 America/New_York sun-thu",
        None: "09:30 America/New_York mon-fri",
    }


# ---------------------------------------------------------------- readiness and state


Update = tuple[dict[str, float | None], bool, str | None]


def _warm_other_indicators(fs: FeatureSet, start: int, n: int = 40) -> Update:
    """`n` one-minute bars from `start` (40: every other indicator is warm)."""
    out: Update = ({}, False, None)
    for i in range(n):
        out = fs.update(bar(start + i * MIN, 100.0 + (i % 5), 50.0 + i))
    return out


def test_fresh_state_is_not_ready_until_a_session_start() -> None:
    fs = features("AAPL")
    f, ready, reason = _warm_other_indicators(fs, utc("2024-07-16 14:00"))  # 10:00 EDT
    assert not ready and f["vwap_session"] is None
    assert [k for k in FEATURE_NAMES if f[k] is None] == ["vwap_session"]
    assert reason == (
        "warming_up: 40 bars, waiting for vwap_session (a whole session: from 2024-07-17T13:30Z)"
    )
    f, ready, reason = fs.update(bar(utc("2024-07-16 19:59"), 101.0))  # same session
    assert not ready and f["vwap_session"] is None
    f, ready, reason = fs.update(bar(utc("2024-07-17 13:30"), 99.0))  # 09:30 EDT
    assert ready and reason is None and f["vwap_session"] == 99.0


def test_fresh_state_is_ready_from_a_bar_that_opens_the_session() -> None:
    fs = features("AAPL")
    f, ready, _ = _warm_other_indicators(fs, utc("2024-07-16 13:30"))  # 09:30 EDT
    assert ready and f["vwap_session"] is not None


def test_history_folded_across_a_session_start_makes_it_ready() -> None:
    """What a backfill does: the same class over history, crossing an open."""
    fs = features("AAPL")
    _warm_other_indicators(fs, utc("2024-07-16 19:00"))  # 15:00 EDT, 40 bars: not ready
    f, ready, _ = _warm_other_indicators(fs, utc("2024-07-17 13:31"), 2)  # first bar 09:31
    assert ready and f["vwap_session"] == pytest.approx((101.0 * 51 + 100 * 50) / 101)


def _old_record(fs: FeatureSet) -> dict[str, object]:
    """What the schema-1 code wrote: the UTC day instead of the anchor fields."""
    record = json.loads(json.dumps(fs.state()))
    del record["vwap_anchor"], record["vwap_since"]
    return {**record, "v": 1, "day": 19_920}  # 2024-07-16


def test_an_old_state_record_loads_with_the_vwap_not_ready() -> None:
    live = features("AAPL")
    _, ready, _ = _warm_other_indicators(live, utc("2024-07-16 13:30"))
    assert ready  # a whole session in memory...
    old = FeatureSet.from_state(_old_record(live), anchor=live.anchor)
    f, ready, reason = old.update(bar(utc("2024-07-16 15:00"), 100.0))
    # ...but the record cannot tell where its VWAP started: never a wrong value.
    assert not ready and f["vwap_session"] is None and "vwap_session" in (reason or "")
    assert f["sma_10"] is not None and f["macd"] is not None  # the rest carried over
    f, ready, _ = old.update(bar(utc("2024-07-17 13:30"), 98.0, 5.0))
    assert ready and f["vwap_session"] == 98.0


def test_a_record_saved_under_another_anchor_loads_with_the_vwap_not_ready() -> None:
    crypto = features("BTC-USD")
    _, ready, _ = _warm_other_indicators(crypto, utc("2024-07-16 00:00"))
    assert ready
    record = json.loads(json.dumps(crypto.state()))
    moved = FeatureSet.from_state(record, anchor=vwap_anchor("AAPL", DEFAULTS))
    f, ready, _ = moved.update(bar(utc("2024-07-16 01:00"), 100.0))
    assert not ready and f["vwap_session"] is None


@pytest.mark.parametrize("first", ["2024-07-16 13:30", "2024-07-16 14:00"], ids=["whole", "part"])
def test_state_round_trip_continues_bit_identically(first: str) -> None:
    a, b = features("AAPL"), features("AAPL")
    _warm_other_indicators(a, utc(first))
    _warm_other_indicators(b, utc(first))
    record = json.loads(json.dumps(b.state()))
    assert set(record) == {"v", "bars", "vwap_anchor", "vwap_since", *FeatureSet._PARTS}
    assert record["v"] == 2 and record["vwap_anchor"] == "09:30 America/New_York mon-fri"
    b = FeatureSet.from_state(record, "AAPL", anchor=b.anchor)
    later = series([utc("2024-07-16 19:00"), utc("2024-07-17 13:30"), utc("2024-07-17 14:00")])
    for x in later:
        assert a.update(x) == b.update(x)


def test_a_bad_vwap_since_is_refused() -> None:
    fs = features("AAPL")
    _warm_other_indicators(fs, utc("2024-07-16 13:30"), 2)
    record = {**fs.state(), "vwap_since": "yesterday"}
    with pytest.raises(ValueError, match="vwap_since"):
        FeatureSet.from_state(record, anchor=fs.anchor)


# ---------------------------------------------------------------- settings


def test_an_explicit_anchor_applies_to_every_symbol() -> None:
    s = Settings.from_env({"TICKCAST_VWAP_ANCHOR": " 8:00  Europe/London Mon-Fri "})
    assert s.vwap_anchor == "08:00 Europe/London mon-fri"  # canonical
    assert {vwap_anchor(x, s).spec for x in ("VOD.L", "BTC-USD")} == {s.vwap_anchor}


def test_auto_follows_tickcast_session_when_it_is_set() -> None:
    s = Settings.from_env({"TICKCAST_SESSION": "09:30-16:00 America/New_York mon-fri"})
    # The ingest filter keeps only that window's trades, crypto's too.
    assert vwap_anchor("BTC-USD", s).spec == "09:30 America/New_York mon-fri"
    bad = Settings.from_env({"TICKCAST_SESSION": "09:30-16:00 Nowhere/Town"})
    with pytest.raises(ConfigError, match="TICKCAST_SESSION"):
        vwap_anchor("AAPL", bad)


@pytest.mark.parametrize(
    "value",
    ["09:30", "9:30 America/NewYork", "25:00 UTC", "09:30 UTC weekdays", "09:30 UTC mon-xyz"],
)
def test_a_bad_anchor_fails_fast_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="TICKCAST_VWAP_ANCHOR"):
        Settings.from_env({"TICKCAST_VWAP_ANCHOR": value})


def test_bar_anchor_makes_every_bar_its_own_session() -> None:
    s = Settings.from_env({"TICKCAST_VWAP_ANCHOR": "bar"})
    fs = features("SPX", s)
    bars = series(
        [utc("2024-07-16 00:00"), utc("2024-07-16 00:00") + 1000, utc("2024-07-17 00:00")]
    )
    assert vwaps(fs, bars) == [b.vwap for b in bars]


def test_anchor_windows_are_half_open_and_skip_days_without_a_session() -> None:
    fx = SessionAnchor.parse("17:00 America/New_York sun-thu")
    start, end = fx.window(utc("2024-07-20 12:00"))  # a Saturday
    assert (start, end) == (utc("2024-07-18 21:00"), utc("2024-07-21 21:00"))
    assert fx.window(end) == (end, utc("2024-07-22 21:00"))
    assert fx.window(end - 1) == (start, end)
