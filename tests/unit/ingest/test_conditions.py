"""Trade conditions -> bar update flags, code by code, against the vendors' own tables:

- Alpaca: the Market Data FAQ, "How are bars aggregated?",
  https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated (minute-bar
  rules, by tape: A/B = CTS, C = UTP, O = TDDS), including its worked example (a Nasdaq
  trade with `@`, `4`, `I`) and the rule "the strictest rule is applied".
- Polygon: the conditions endpoint, https://polygon.io/docs/stocks/get_v3_reference_conditions,
  `update_rules.consolidated` per condition id (e.g. Average Price Trade 2:
  high/low false, open/close false, volume true, as in
  https://polygon.io/knowledge-base/article/how-does-polygon-create-the-ohlcv-open-high-low-close-volume-aggregate-bars).
"""

from __future__ import annotations

import pytest

from tickcast.ingest.formats.conditions import (
    ALPACA,
    POLYGON_STOCKS,
    alpaca_flags,
    polygon_stock_flags,
)
from tickcast.schema import FLAG_HIGH_LOW as HL
from tickcast.schema import FLAG_LAST as LAST
from tickcast.schema import FLAG_VOLUME as VOL
from tickcast.schema import FLAGS_ALL as ALL

# (code, tape, open/close, high/low, volume) as the Alpaca FAQ's table marks the minute bar.
ALPACA_MINUTE = [
    (" ", "A", True, True, True),  # Regular Sale (CTS)
    ("@", "C", True, True, True),  # Regular Sale (UTP)
    ("B", "A", False, False, True),  # Average Price Trade on CTS...
    ("B", "C", True, True, True),  # ...but Bunched Trade on UTP
    ("W", "C", False, False, True),  # Average Price Trade (UTP)
    ("C", "B", False, False, True),  # Cash Sale
    ("F", "C", True, True, True),  # Intermarket Sweep
    ("G", "C", False, False, True),  # Bunched Sold Trade (minute)
    ("H", "A", False, False, True),  # Price Variation Trade
    ("I", "C", False, False, True),  # Odd Lot Trade
    ("I", "O", False, False, True),  # Odd Lot Trade (OTC)
    ("M", "A", False, False, False),  # Market Center Official Close
    ("N", "C", False, False, True),  # Next Day
    ("O", "A", True, True, True),  # Market Center Opening Trade
    ("P", "C", False, False, True),  # Prior Reference Price (minute)
    ("Q", "C", False, False, False),  # Market Center Official Open
    ("R", "A", False, False, True),  # Seller
    ("T", "C", True, True, True),  # Extended Hours Trade (minute)
    ("U", "C", False, False, True),  # Extended Trading Hours (Sold Out of Sequence)
    ("V", "B", False, False, True),  # Contingent Trade
    ("X", "C", True, True, True),  # Cross Trade
    ("Z", "A", False, False, True),  # Sold Out Of Sequence (minute)
    ("4", "C", False, False, True),  # Derivatively Priced (minute)
    ("5", "A", True, True, True),  # Market Center Reopening Trade
    ("6", "C", True, True, True),  # Market Center Closing Trade
    ("7", "B", False, False, True),  # Qualified Contingent Trade
    ("9", "C", False, False, False),  # Corrected Consolidated Close (minute)
]


def _flags(last: bool, high_low: bool, volume: bool) -> int:
    return (LAST if last else 0) | (HL if high_low else 0) | (VOL if volume else 0)


@pytest.mark.parametrize(("code", "tape", "last", "high_low", "volume"), ALPACA_MINUTE)
def test_alpaca_table_matches_the_faq(
    code: str, tape: str, last: bool, high_low: bool, volume: bool
) -> None:
    assert alpaca_flags([code], tape) == _flags(last, high_low, volume)


def test_alpaca_strictest_rule_wins_as_in_the_faq_example() -> None:
    # "if a Nasdaq trade has these conditions: @, 4, I ... only the volume is updated"
    assert alpaca_flags(["@", "4", "I"], "C") == VOL
    assert alpaca_flags(["@", "F", "T"], "C") == ALL  # an extended-hours sweep: everything
    assert alpaca_flags(["@", "F", "T", "I"], "C") == VOL  # the same, an odd lot


def test_alpaca_letters_are_read_per_tape() -> None:
    assert ALPACA["A"]["B"] == VOL and ALPACA["C"]["B"] == ALL
    # No tape: the letter's strictest meaning (B is Average Price somewhere).
    assert alpaca_flags(["B"], None) == VOL
    assert alpaca_flags(["B"], "?") == VOL


def test_alpaca_absent_or_unknown_conditions() -> None:
    assert alpaca_flags(None, "C") is None  # no codes: the trade counts fully (None)
    assert alpaca_flags((), "C") is None
    assert alpaca_flags(["S"], "C") == ALL  # Split Trade: in UTP, not restricted by Alpaca


# (id, high/low, open/close, volume): Polygon's update_rules.consolidated.
POLYGON_CONSOLIDATED = [
    (0, True, True, True),  # Regular Sale
    (2, False, False, True),  # Average Price Trade
    (5, True, False, True),  # Bunched Sold Trade
    (7, False, False, True),  # Cash Sale
    (9, True, True, True),  # Cross Trade
    (10, True, False, True),  # Derivatively Priced
    (12, False, False, True),  # Form T/Extended Hours
    (13, False, False, True),  # Extended Hours (Sold Out Of Sequence)
    (14, True, True, True),  # Intermarket Sweep
    (15, False, False, False),  # Market Center Official Close
    (16, False, False, False),  # Market Center Official Open
    (20, False, False, True),  # Next Day
    (21, False, False, True),  # Price Variation Trade
    (22, True, False, True),  # Prior Reference Price
    (29, False, False, True),  # Seller
    (32, True, False, True),  # Sold (Out Of Sequence)
    (33, True, False, True),  # Sold (Out of Sequence) and Stopped Stock
    (37, False, False, True),  # Odd Lot Trade
    (38, True, True, False),  # Corrected Consolidated Close (per listing market)
    (41, True, True, True),  # Trade Thru Exempt
    (52, False, False, True),  # Contingent Trade
    (53, False, False, True),  # Qualified Contingent Trade
]


@pytest.mark.parametrize(("code", "high_low", "last", "volume"), POLYGON_CONSOLIDATED)
def test_polygon_table_matches_the_conditions_endpoint(
    code: int, high_low: bool, last: bool, volume: bool
) -> None:
    assert POLYGON_STOCKS[code] == _flags(last, high_low, volume)
    assert polygon_stock_flags([code]) == _flags(last, high_low, volume)


def test_polygon_strictest_rule_wins() -> None:
    assert polygon_stock_flags([14, 41]) == ALL  # a sweep, trade-through exempt
    assert polygon_stock_flags([14, 37]) == VOL  # an odd-lot sweep
    assert polygon_stock_flags([22, 38]) == HL  # high/low only: the two agree on nothing else
    assert polygon_stock_flags([12, 15]) == 0
    assert polygon_stock_flags([]) is None
    assert polygon_stock_flags(None) is None
    assert polygon_stock_flags([60]) == ALL  # a short-sale-restriction indicator
