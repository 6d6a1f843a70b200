"""The Firestore documents of one bar (pure).

`symbols/{SYM}` (latest, broadcast by the bridge) and
`symbols/{SYM}/predictions/{seq}` (history) share the contract's fields:
symbol, interval_s, seq, bar, features, ready, reason, prediction,
updated_at, trace. History adds `shadow` (the challenger's prediction, never
broadcast), `expire_at` (bar end + retention, for Firestore's TTL policy) and,
once scored, `score` and `outcome`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tickcast.schema import FeaturesMessage, Prediction

HISTORY_ONLY = ("shadow", "expire_at", "score", "outcome")


def history_id(seq: int) -> str:
    # Zero-padded so lexical order is time order in the console as well.
    return f"{seq:015d}"


def expire_at(seq: int, retention_days: int) -> datetime:
    # From the bar's time, not the write's: a redelivery writes the same value.
    return datetime.fromtimestamp(seq / 1000, UTC) + timedelta(days=retention_days)


def history(
    fm: FeaturesMessage,
    prediction: Prediction | None,
    shadow: Prediction | None,
    *,
    predict_ns: int,
    retention_days: int,
) -> dict[str, Any]:
    return {
        "symbol": fm.symbol,
        "interval_s": fm.interval_s,
        "seq": fm.seq,
        "bar": fm.bar.model_dump(),
        "features": fm.features,
        "ready": fm.ready,
        "reason": fm.reason,
        "prediction": prediction.model_dump() if prediction is not None else None,
        "updated_at": predict_ns // 1_000_000,  # epoch ms; the store stamps the write time
        "trace": {**fm.trace, "predict": predict_ns},
        "shadow": shadow.model_dump() if shadow is not None else None,
        "expire_at": expire_at(fm.seq, retention_days),
    }


def latest(history_doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in history_doc.items() if k not in HISTORY_ONLY}
