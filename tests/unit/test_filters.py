from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from tickcast.config import Settings
from tickcast.errors import ConfigError
from tickcast.ingest.filters import Session, TickFilter
from tickcast.schema import Tick

NY = ZoneInfo("America/New_York")


def ns(y: int, mo: int, d: int, h: int, mi: int) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=NY).timestamp()) * 1_000_000_000


def tick(
    price: float = 10.0,
    size: float = 100,
    kind: str = "trade",
    ts: int | None = None,
    bar_s: int | None = None,
) -> Tick:
    return Tick(ts=ts or ns(2024, 3, 4, 10, 0), price=price, size=size, kind=kind, bar_s=bar_s)  # type: ignore[arg-type]


def flt(**env: str) -> TickFilter:
    return TickFilter.from_settings(Settings.from_env(env))


def test_everything_passes_by_default() -> None:
    f = flt()
    assert not f.active
    kept, counts = f.apply([("AAPL", tick(price=1e6, size=0))])
    assert len(kept) == 1 and not counts


def test_each_filter_counts_its_reason() -> None:
    f = flt(
        TICKCAST_SYMBOL_ALLOWLIST="aapl, msft,btc/usd",
        TICKCAST_SYMBOL_DENYLIST="MSFT",
        TICKCAST_MIN_PRICE="1",
        TICKCAST_MAX_PRICE="1000",
        TICKCAST_MIN_SIZE="10",
        TICKCAST_SESSION="09:30-16:00 America/New_York mon-fri",
    )
    ticks = [
        ("AAPL", tick()),  # kept
        ("BTC-USD", tick()),  # kept: the list is normalised like symbols are
        ("TSLA", tick()),
        ("MSFT", tick()),
        ("AAPL", tick(price=0.5)),
        ("AAPL", tick(price=5000)),
        ("AAPL", tick(size=5)),
        ("AAPL", tick(kind="quote", size=0)),  # quotes are not size-filtered
        ("AAPL", tick(ts=ns(2024, 3, 4, 9, 29))),
        ("AAPL", tick(ts=ns(2024, 3, 4, 16, 0))),  # end is exclusive
        ("AAPL", tick(ts=ns(2024, 3, 2, 12, 0))),  # a Saturday
        (
            "AAPL",
            tick(ts=ns(2024, 3, 2, 0, 0), bar_s=86_400),
        ),  # daily bars are not session-filtered
    ]
    kept, counts = f.apply(ticks)
    assert [s for s, _ in kept] == ["AAPL", "BTC-USD", "AAPL", "AAPL"]
    assert counts == {
        "symbol_not_allowed": 1,
        "symbol_denied": 1,
        "price_below_min": 1,
        "price_above_max": 1,
        "size_below_min": 1,
        "outside_session": 3,
    }


def test_session_uses_the_exchange_time_zone_across_dst() -> None:
    s = Session.parse("09:30-16:00 America/New_York")
    # 09:30 New York is 14:30 UTC in winter and 13:30 UTC in summer.
    assert s.contains(ns(2024, 1, 10, 9, 30)) and s.contains(ns(2024, 7, 10, 9, 30))
    assert not s.contains(ns(2024, 7, 10, 9, 29))


@pytest.mark.parametrize(
    "spec",
    [
        "9:30 to 16:00 America/New_York",
        "16:00-09:30 America/New_York",
        "09:30-16:00 Mars/Olympus",
        "09:30-16:00 UTC mon-xyz",
        "25:00-26:00 UTC",
    ],
)
def test_a_bad_session_fails_fast(spec: str) -> None:
    with pytest.raises(ConfigError, match="TICKCAST_SESSION"):
        Session.parse(spec)


def test_min_above_max_is_refused() -> None:
    with pytest.raises(ConfigError):
        flt(TICKCAST_MIN_PRICE="10", TICKCAST_MAX_PRICE="5")


def test_symbol_lists_use_the_feeds_normaliser() -> None:
    """Entries as any vendor spells them (schema.normalise_symbol): Polygon's REST and flat
    files say X:BTCUSD and C:EURUSD, Alpaca BTC/USD, Polygon's crypto stream BTC-USD."""
    f = flt(TICKCAST_SYMBOL_ALLOWLIST="X:BTCUSD, eur/usd", TICKCAST_SYMBOL_DENYLIST="C:USDJPY")
    assert f.allow == {"BTC-USD", "EUR-USD"} and f.deny == {"USD-JPY"}
    kept, counts = f.apply([("BTC-USD", tick()), ("EUR-USD", tick()), ("USD-JPY", tick())])
    assert [s for s, _ in kept] == ["BTC-USD", "EUR-USD"]
    assert counts == {"symbol_not_allowed": 1}


def test_a_trade_that_updates_nothing_is_dropped_and_counted() -> None:
    """Trade conditions that update no part of a bar (flags 0: a market center's official
    open/close print, Alpaca `M`/`Q`, Polygon 15/16,
    https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated,
    https://polygon.io/docs/stocks/get_v3_reference_conditions) are dropped at ingest,
    counted, with no filter configured; a cancel or correction is kept whatever its flags:
    it still has to take the original trade out."""
    f = flt()
    ts = ns(2024, 3, 4, 10, 0)
    ticks = [
        ("AAPL", Tick(ts=ts, price=10.0, size=100, flags=0)),  # ineligible
        ("AAPL", Tick(ts=ts, price=10.0, size=100, flags=4)),  # volume only: kept
        ("AAPL", Tick(ts=ts, price=10.0, size=100)),  # no conditions: kept
        ("AAPL", Tick(ts=ts, price=10.0, size=100, kind="correct", flags=0, ref="r")),
        ("AAPL", Tick(ts=ts, price=10.0, size=100, kind="cancel", ref="r")),
    ]
    kept, counts = f.apply(ticks)
    assert [(t.kind, t.flags) for _, t in kept] == [
        ("trade", 4),
        ("trade", None),
        ("correct", 0),
        ("cancel", None),
    ]
    assert counts == {"ineligible_condition": 1}


def test_parsed_official_prints_are_filtered_end_to_end() -> None:
    """A vendor-shaped Alpaca frame through the parser and the filter: the official close
    print (`M`) never reaches features."""
    from tickcast.ingest.formats import parse

    frame = [
        {"T": "t", "S": "SPY", "i": 1, "x": "P", "p": 410.0, "s": 100, "c": [" "], "z": "B"},
        {"T": "t", "S": "SPY", "i": 2, "x": "P", "p": 410.5, "s": 0, "c": [" ", "M"], "z": "B"},
    ]
    for m in frame:
        m["t"] = "2024-03-04T21:00:00Z"
    body = orjson.dumps(frame)
    parsed = parse(
        body, None, now_ns=ns(2024, 3, 4, 17, 0), max_past_ns=10**13, max_future_ns=10**13
    )
    kept, counts = flt().apply(parsed.ticks)
    assert [t.seq for _, t in kept] == [1]
    assert counts == {"ineligible_condition": 1}
