"""Trade conditions -> which parts of a bar a trade may update (schema.FLAG_*).

A trade's `flags` are the AND over its condition codes: the strictest rule wins, as both
vendors document. A trade without condition codes gets `None` (every part). A code a
table does not list restricts nothing: vendors add codes over time, and an unknown code
must never hide a real trade. A trade whose flags come out 0 updates nothing; ingest's
filter drops it (`ineligible_condition`, counted, not dead-lettered).

One table per vendor, because the same letter or number means different things:

Alpaca (letters as the SIPs send them, by tape). Source: Alpaca's Market Data FAQ, "How
are bars aggregated?", https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated
(the CTS rules for tapes A and B, UTP for tape C, TDDS for OTC tape O). Alpaca gives
separate minute (`M`) and daily (`D`) rules; tickcast's bars are intraday
(TICKCAST_BAR_SECONDS, default 60), so the minute rules are the ones here: e.g. `T`
(extended hours) updates everything in a minute bar, while `P` (prior reference price),
`Z` (sold out of sequence), `4` (derivatively priced) and `G` (bunched sold) update only
the volume, because "that price possibly happened in another minute". The letters are
tape-specific (`B` is Average Price on CTS but Bunched on UTP); for a trade without a
tape the strictest meaning of the letter across tapes applies.

Polygon (numeric ids, one namespace per asset class). Source: the conditions endpoint,
https://polygon.io/docs/stocks/get_v3_reference_conditions, each condition's
`update_rules.consolidated` (`updates_high_low`, `updates_open_close`,
`updates_volume`); Polygon's aggregates follow the consolidated rules
(https://polygon.io/knowledge-base/article/how-does-polygon-create-the-ohlcv-open-high-low-close-volume-aggregate-bars).
Those are the SIPs' consolidated (daily) rules: Form T (12) is volume only, prior
reference price (22), sold out of sequence (32, 33) and derivatively priced (10) update
the high/low but not open/close. Polygon's own pre/after-hours minute bars take prices
from Form T trades anyway (https://massive.com/knowledge-base/article/does-a-form-t-trade-update-a-pre-market-minute-bars-high-low-open-and-close);
tickcast applies the documented per-code rule and does not model that session exception.
Crypto trade conditions (`XT` `c`: 1 sellside, 2 buyside,
https://polygon.io/docs/crypto/ws_crypto_xt) say who took liquidity, not how the trade
counts, so they never restrict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final

from tickcast.schema import FLAG_HIGH_LOW, FLAG_LAST, FLAG_VOLUME, FLAGS_ALL

ALL: Final = FLAGS_ALL
HL: Final = FLAG_HIGH_LOW
LAST: Final = FLAG_LAST
VOL: Final = FLAG_VOLUME
NONE: Final = 0

# --- Alpaca: (code, tapes, minute-bar rule) as the FAQ table lists them -----------------------
# https://docs.alpaca.markets/docs/market-data-faq#how-are-bars-aggregated
_ALPACA_ROWS: Final[tuple[tuple[str, str, int], ...]] = (
    (" ", "AB", ALL),  # Regular Sale
    ("@", "CO", ALL),  # Regular Sale
    ("A", "C", ALL),  # Acquisition
    ("B", "AB", VOL),  # Average Price Trade (CTS)
    ("B", "C", ALL),  # Bunched Trade (UTP)
    ("C", "ABCO", VOL),  # Cash Sale
    ("D", "C", ALL),  # Distribution
    ("E", "AB", ALL),  # Automatic Execution
    ("F", "ABC", ALL),  # Intermarket Sweep
    ("G", "C", VOL),  # Bunched Sold Trade (minute bar; a daily bar takes its high/low)
    ("H", "ABC", VOL),  # Price Variation Trade
    ("I", "ABCO", VOL),  # Odd Lot Trade
    ("K", "ABC", ALL),  # Rule 127 or Rule 155
    ("L", "ABC", ALL),  # Sold Last
    ("M", "ABC", NONE),  # Market Center Official Close
    ("N", "ABCO", VOL),  # Next Day
    ("O", "ABC", ALL),  # Market Center Opening Trade
    ("P", "ABCO", VOL),  # Prior Reference Price (minute bar)
    ("Q", "ABC", NONE),  # Market Center Official Open
    ("R", "ABCO", VOL),  # Seller
    ("T", "ABCO", ALL),  # Extended Hours Trade (minute bar; a daily bar takes volume only)
    ("U", "ABCO", VOL),  # Extended Trading Hours (Sold Out of Sequence)
    ("V", "ABC", VOL),  # Contingent Trade
    ("W", "CO", VOL),  # Average Price Trade (UTP, TDDS)
    ("X", "ABC", ALL),  # Cross Trade
    ("Y", "C", ALL),  # Yellow Flag Regular Trade
    ("Z", "ABC", VOL),  # Sold Out Of Sequence (minute bar)
    ("4", "ABC", VOL),  # Derivatively Priced (minute bar)
    ("5", "ABC", ALL),  # Market Center Reopening Trade
    ("6", "ABC", ALL),  # Market Center Closing Trade
    ("7", "ABC", VOL),  # Qualified Contingent Trade
    ("9", "ABC", NONE),  # Corrected Consolidated Close (minute bar)
)
ALPACA_TAPES: Final = ("A", "B", "C", "O")

# tape -> code -> flags
ALPACA: Final[Mapping[str, Mapping[str, int]]] = {
    tape: {code: rule for code, tapes, rule in _ALPACA_ROWS if tape in tapes}
    for tape in ALPACA_TAPES
}


def _strictest(rows: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for code, _, rule in rows:
        out[code] = out.get(code, ALL) & rule
    return out


# A trade whose tape is not given: each letter at its strictest across tapes.
ALPACA_ANY_TAPE: Final[Mapping[str, int]] = _strictest(_ALPACA_ROWS)

# --- Polygon stocks: id -> consolidated update rules --------------------------------------------
# https://polygon.io/docs/stocks/get_v3_reference_conditions (asset_class=stocks,
# data_type=trade), update_rules.consolidated. Ids absent here (indicators such as short
# sale restriction 57-60 and financial status 62-71, which carry no update rules) restrict
# nothing.
POLYGON_STOCKS: Final[Mapping[int, int]] = {
    0: ALL,  # Regular Sale
    1: ALL,  # Acquisition
    2: VOL,  # Average Price Trade
    3: ALL,  # Automatic Execution
    4: ALL,  # Bunched Trade
    5: HL | VOL,  # Bunched Sold Trade
    6: ALL,  # CAP Election (legacy)
    7: VOL,  # Cash Sale
    8: ALL,  # Closing Prints
    9: ALL,  # Cross Trade
    10: HL | VOL,  # Derivatively Priced
    11: ALL,  # Distribution
    12: VOL,  # Form T/Extended Hours
    13: VOL,  # Extended Hours (Sold Out Of Sequence)
    14: ALL,  # Intermarket Sweep
    15: NONE,  # Market Center Official Close
    16: NONE,  # Market Center Official Open
    17: ALL,  # Market Center Opening Trade
    18: ALL,  # Market Center Reopening Trade
    19: ALL,  # Market Center Closing Trade
    20: VOL,  # Next Day
    21: VOL,  # Price Variation Trade
    22: HL | VOL,  # Prior Reference Price
    23: ALL,  # Rule 155 Trade (AMEX)
    24: ALL,  # Rule 127 (NYSE Only)
    25: ALL,  # Opening Prints
    27: ALL,  # Stopped Stock (Regular Trade)
    28: ALL,  # Re-Opening Prints
    29: VOL,  # Seller
    30: ALL,  # Sold Last
    31: ALL,  # Sold Last and Stopped Stock
    32: HL | VOL,  # Sold (Out Of Sequence)
    33: HL | VOL,  # Sold (Out of Sequence) and Stopped Stock
    34: ALL,  # Split Trade
    35: ALL,  # Stock Option
    36: ALL,  # Yellow Flag Regular Trade
    37: VOL,  # Odd Lot Trade
    38: HL | LAST,  # Corrected Consolidated Close (per listing market): no volume
    41: ALL,  # Trade Thru Exempt
    52: VOL,  # Contingent Trade
    53: VOL,  # Qualified Contingent Trade
    55: ALL,  # Opening Reopening Trade Detail
}


def _fold(rules: Iterable[int]) -> int:
    flags = ALL
    for rule in rules:
        flags &= rule
    return flags


def alpaca_flags(codes: Iterable[str] | None, tape: str | None) -> int | None:
    """Flags of an Alpaca stock trade from its conditions `c` and tape `z`."""
    if not codes:
        return None
    return _alpaca_flags(tuple(codes), tape)


def polygon_stock_flags(codes: Iterable[int] | None) -> int | None:
    """Flags of a Polygon stock trade from its condition ids `c` / `conditions`."""
    if not codes:
        return None
    return _polygon_flags(tuple(codes))


# Cached: every trade asks, and a feed uses a few dozen combinations of codes (the
# vendor models hold them as tuples, so the key costs nothing). Bounded, because the
# codes are whatever the feed sends.
@lru_cache(maxsize=4096)
def _alpaca_flags(codes: tuple[str, ...], tape: str | None) -> int:
    table = ALPACA.get(tape, ALPACA_ANY_TAPE) if tape else ALPACA_ANY_TAPE
    return _fold(table.get(code, ALL) for code in codes)


@lru_cache(maxsize=4096)
def _polygon_flags(codes: tuple[int, ...]) -> int:
    return _fold(POLYGON_STOCKS.get(code, ALL) for code in codes)
