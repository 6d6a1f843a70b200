"""Predict: a closed bar's features -> prediction -> Firestore."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from pydantic import ValidationError

from tickcast import clients, log
from tickcast.config import Settings
from tickcast.errors import PermanentError
from tickcast.predict import store
from tickcast.predict.model import Model, load
from tickcast.pubsub import PushedMessage
from tickcast.schema import FeaturesMessage

_log = log.get("predict")


@cache
def _model(uri: str) -> Model:
    return load(uri)


def build_document(s: Settings, fm: FeaturesMessage, model: Model) -> dict[str, Any]:
    prediction = model.predict(fm.features, s.horizon_bars).model_dump() if fm.ready else None
    trace = {**fm.trace, "predict": time.time_ns()}
    return {
        "symbol": fm.symbol,
        "interval_s": fm.interval_s,
        "seq": fm.seq,
        "bar": fm.bar.model_dump(),
        "features": fm.features,
        "ready": fm.ready,
        "reason": fm.reason,
        "prediction": prediction,
        "updated_at": trace["predict"] // 1_000_000,  # epoch ms
        "trace": trace,
    }


def handle(msg: PushedMessage, s: Settings) -> dict[str, Any]:
    try:
        fm = FeaturesMessage.model_validate_json(msg.data)
    except ValidationError as exc:
        raise PermanentError("invalid_features_message", str(exc)) from None
    doc = build_document(s, fm, _model(s.model_uri))
    latest = store.write(clients.firestore_client(s.project_id), fm.symbol, fm.seq, doc)
    event = fm.trace.get("event")
    _log.info(
        "predicted",
        extra={
            "symbol": fm.symbol,
            "seq": fm.seq,
            "ready": fm.ready,
            "latest": latest,
            "latency_ms": (doc["trace"]["predict"] - event) / 1e6 if event else None,
        },
    )
    return doc
