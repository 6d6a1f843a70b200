from __future__ import annotations

import pytest

# The golden features of tests/data/push_features.json: a ready bar.
READY: dict[str, float | None] = {
    "close": 10.4,
    "ret_1": 0.004,
    "sma_10": 10.2,
    "sma_30": 10.1,
    "sma_ratio": 0.0099,
    "ema_12": 10.25,
    "ema_26": 10.15,
    "rsi_14": 61.0,
    "macd": 0.1,
    "macd_signal": 0.08,
    "macd_hist": 0.02,
    "bb_upper": 10.9,
    "bb_middle": 10.2,
    "bb_lower": 9.5,
    "bb_pctb": 0.64,
    "atr_14": 0.4,
    "vwap_session": 10.1,
    "rv_20": 0.01,
    "volume_z_20": 0.3,
}


@pytest.fixture(scope="session")
def features() -> dict[str, float | None]:
    return dict(READY)
