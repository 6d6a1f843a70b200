"""The one symbol normaliser: every vendor's spelling of a pair names one symbol, and
the result is a valid Firestore document id (no '/').

Spellings: Alpaca crypto `BTC/USD` (https://docs.alpaca.markets/docs/real-time-crypto-pricing-data),
Polygon stream pairs `BTC-USD` and REST/flat-file tickers `X:BTCUSD`, `C:EURUSD`
(https://polygon.io/docs/crypto/ws_crypto_xt, https://polygon.io/docs/forex/get_v2_aggs_ticker__forexticker__range__multiplier___timespan___from___to).
"""

from __future__ import annotations

import pytest

from tickcast.schema import SYMBOL_RE, normalise_symbol


@pytest.mark.parametrize(
    ("raw", "symbol"),
    [
        ("aapl", "AAPL"),
        ("BRK.B", "BRK.B"),
        ("^GSPC", "^GSPC"),
        ("BTC/USD", "BTC-USD"),
        ("BTC-USD", "BTC-USD"),
        ("X:BTCUSD", "BTC-USD"),
        ("X:BTC-USD", "BTC-USD"),
        ("x:ethusdt", "ETH-USDT"),
        ("X:ETHBTC", "ETH-BTC"),
        ("C:EURUSD", "EUR-USD"),
        ("EUR/USD", "EUR-USD"),
        (" msft ", "MSFT"),
    ],
)
def test_every_spelling_names_one_valid_symbol(raw: str, symbol: str) -> None:
    assert normalise_symbol(raw) == symbol
    assert SYMBOL_RE.fullmatch(symbol) and "/" not in symbol
