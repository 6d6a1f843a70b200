"""Synthetic symbols/{SYM} documents with the real shape (benchmark and tests)."""

from __future__ import annotations

import time
from typing import Any


def prediction_doc(symbol: str, seq: int, *, interval_s: int = 1, pad: int = 0) -> dict[str, Any]:
    """A ready prediction for the bar ending at `seq`; `pad` adds that many bytes."""
    close = 100.0 + (seq // 1000) % 17
    doc: dict[str, Any] = {
        "symbol": symbol,
        "interval_s": interval_s,
        "seq": seq,
        "bar": {
            "t": seq - interval_s * 1000,
            "o": close,
            "h": close + 0.5,
            "l": close - 0.5,
            "c": close,
            "v": 1000.0,
            "vwap": close,
            "n": 4,
        },
        "features": {"rsi_14": 55.0, "log_return": 0.001},
        "ready": True,
        "reason": None,
        "prediction": {
            "model_id": "baseline",
            "model_version": "1",
            "horizon_bars": 1,
            "p_up": 0.6,
            "direction": "up",
            "confidence": 0.6,
            "expected_return": 0.001,
            "factors": [],
        },
        "updated_at": seq,
        "trace": {"event": time.time_ns()},
    }
    if pad:
        doc["pad"] = "x" * pad
    return doc
