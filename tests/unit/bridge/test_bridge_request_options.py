"""`request_prediction` options are served or answered with a reason, every time
(issue 14, point 9): `model` only when it is the live model (never the shadow),
`horizon` only when it is the live horizon in bars or the same time, and
`confidence` never as a band (the models are point estimates), with
`meets_confidence` still comparing the prediction's own confidence.

Documents are built the way predict builds them: the real models (registry) on the
golden features payload, shaped by `predict.document`, shadow included."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.options import human, parse_horizon
from tickcast.config import Settings
from tickcast.predict import document
from tickcast.predict.registry import Registry
from tickcast.schema import FeaturesMessage

DATA = Path(__file__).resolve().parents[2] / "data"
SEQ = 1_709_562_660_000


def golden(interval_s: int) -> FeaturesMessage:
    push = json.loads((DATA / "push_features.json").read_text())
    raw = json.loads(base64.b64decode(push["message"]["data"]))
    raw.update(symbol="AAPL", interval_s=interval_s, seq=SEQ)
    return FeaturesMessage.model_validate(raw)


def history_doc(
    *, live: str, shadow: str = "", interval_s: int = 60, horizon_bars: int = 1
) -> dict[str, Any]:
    """symbols/AAPL/predictions/{seq} as predict writes it (shadow and TTL included)."""
    cfg = Settings.from_env({})
    models = Registry(
        live_uri=live,
        shadow_uri=shadow,
        ensemble_spec=cfg.ensemble_models,
        horizon_bars=horizon_bars,
    )
    fm = golden(interval_s)
    shadow_model = models.shadow()
    return document.history(
        fm,
        models.live().predict(fm.features),
        shadow_model.predict(fm.features) if shadow_model is not None else None,
        predict_ns=time.time_ns(),
        retention_days=30,
    )


def ask(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    source = MemorySource()
    source.put("symbols", "AAPL", doc)
    app = create_app(
        Settings.from_env({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"}), source=source
    )
    try:
        with TestClient(app) as client:
            deadline = time.monotonic() + 10
            while "AAPL" not in app.state.hub.latest:
                assert time.monotonic() < deadline, "the document never arrived"
                time.sleep(0.01)
            with client.websocket_connect("/ws") as ws:
                ws.receive_json()
                ws.send_json({"type": "request_prediction", "symbol": "AAPL", "options": options})
                answer: dict[str, Any] = ws.receive_json()
    finally:
        source.close()
    assert answer["type"] == "prediction_response"
    # every requested option is answered, and only those; not served ones are in notes too
    assert set(answer["options"]) == set(options)
    for name, a in answer["options"].items():
        assert a["requested"] == options[name] and a["status"] in ("served", "not_served")
        assert a["reason"]
    assert answer["notes"] == [
        a["reason"] for a in answer["options"].values() if a["status"] == "not_served"
    ]
    return answer


@pytest.fixture(scope="module")
def logreg() -> dict[str, Any]:
    return history_doc(live="builtin:logreg-daily", shadow="ensemble")


@pytest.fixture(scope="module")
def ensemble() -> dict[str, Any]:
    return history_doc(live="ensemble", shadow="builtin:baseline")


# --- model ---


def test_model_is_served_when_it_is_the_live_model(ensemble: dict[str, Any]) -> None:
    answer = ask(ensemble, model="ensemble")
    assert answer["options"]["model"]["status"] == "served"
    assert answer["prediction"]["model_id"] == "ensemble"
    assert answer["notes"] == []


def test_the_shadow_model_is_never_served(logreg: dict[str, Any]) -> None:
    # The ensemble runs here as the challenger: its prediction is in the history document
    # (`shadow`), and still it is not what the client gets.
    assert logreg["shadow"]["model_id"] == "ensemble"
    answer = ask(logreg, model="ensemble")
    model = answer["options"]["model"]
    assert model["status"] == "not_served"
    assert "'ensemble' is not served" in model["reason"]
    assert "'logreg-daily'" in model["reason"]
    assert answer["prediction"]["model_id"] == "logreg-daily"
    assert "shadow" not in json.dumps(answer)


def test_another_model_is_not_served_and_says_which_is(ensemble: dict[str, Any]) -> None:
    answer = ask(ensemble, model="gpt-9")
    assert answer["options"]["model"]["status"] == "not_served"
    assert "live model 'ensemble'" in answer["options"]["model"]["reason"]


# --- horizon ---


@pytest.mark.parametrize("horizon", ["1m", "60s", "1 minute", 1, "1", "1bar", "1 bars"])
def test_the_live_horizon_is_served_in_bars_or_as_the_same_time(
    logreg: dict[str, Any], horizon: str | int
) -> None:
    answer = ask(logreg, horizon=horizon)  # 1 bar of 60 s
    assert answer["options"]["horizon"]["status"] == "served"
    assert "1 bar of 60 s (1m)" in answer["options"]["horizon"]["reason"]


def test_the_contract_s_1d_is_served_on_daily_bars() -> None:
    daily = history_doc(live="builtin:logreg-daily", interval_s=86_400)
    assert ask(daily, horizon="1d")["options"]["horizon"]["status"] == "served"
    # the trained model predicts 1 bar ahead; the baseline takes TICKCAST_HORIZON_BARS
    three = history_doc(live="builtin:baseline", interval_s=3600, horizon_bars=3)
    assert three["prediction"]["horizon_bars"] == 3
    assert ask(three, horizon="3h")["options"]["horizon"]["status"] == "served"
    assert ask(three, horizon="3bars")["options"]["horizon"]["status"] == "served"
    assert ask(three, horizon="1h")["options"]["horizon"]["status"] == "not_served"


@pytest.mark.parametrize(
    ("horizon", "says"),
    [
        ("1d", "'1d' (86400 s) is not served"),
        ("5m", "'5m' (300 s) is not served"),
        (2, "'2' (2 bars) is not served"),
        ("soon", "'soon' is not understood"),
        ("1 month", "'1 month' is not understood"),
    ],
)
def test_another_horizon_is_not_served_and_says_which_is(
    logreg: dict[str, Any], horizon: str | int, says: str
) -> None:
    answer = ask(logreg, horizon=horizon)
    reason = answer["options"]["horizon"]["reason"]
    assert answer["options"]["horizon"]["status"] == "not_served"
    assert says in reason and "looks 1 bar of 60 s (1m) ahead" in reason


def test_horizon_parsing() -> None:
    assert parse_horizon("1d") == (86_400, "seconds")
    assert parse_horizon("90 s") == (90, "seconds")
    assert parse_horizon("2W") == (1_209_600, "seconds")
    assert parse_horizon(3) == parse_horizon("3") == parse_horizon("3bars") == (3, "bars")
    assert parse_horizon("P1D") is None and parse_horizon("-1d") is None
    assert [human(s) for s in (60, 90, 3600, 86_400, 172_800, 604_800)] == [
        "1m",
        "90s",
        "1h",
        "1d",
        "2d",
        "1w",
    ]


# --- confidence ---


@pytest.mark.parametrize("level", [0.95, 0.5])
def test_confidence_is_never_a_band_and_meets_confidence_still_compares(
    logreg: dict[str, Any], level: float
) -> None:
    answer = ask(logreg, confidence=level)
    conf = answer["options"]["confidence"]
    own = answer["prediction"]["confidence"]
    assert conf["status"] == "not_served"
    assert f"no {level:g} band on p_up" in conf["reason"] and f"{own:.3g}" in conf["reason"]
    assert answer["meets_confidence"] is (own >= level)
    assert "p_up_low" not in json.dumps(answer)  # nothing pretends to be a band


# --- all together, and a bar without a prediction ---


def test_the_contract_s_example_is_answered_option_by_option(logreg: dict[str, Any]) -> None:
    answer = ask(logreg, horizon="1d", confidence=0.95, model="ensemble")
    assert {k: v["status"] for k, v in answer["options"].items()} == {
        "horizon": "not_served",
        "confidence": "not_served",
        "model": "not_served",
    }
    assert len(answer["notes"]) == 3
    assert answer["prediction"]["model_id"] == "logreg-daily"


def test_no_options_no_answers(logreg: dict[str, Any]) -> None:
    answer = ask(logreg)
    assert answer["options"] == {} and answer["notes"] == []
    assert answer["meets_confidence"] is None


def test_a_bar_without_a_prediction_serves_no_option() -> None:
    fm = golden(60).model_copy(update={"ready": False, "reason": "warming up: 12 of 34 bars"})
    doc = document.history(fm, None, None, predict_ns=time.time_ns(), retention_days=30)
    answer = ask(doc, horizon="1m", model="logreg-daily", confidence=0.6)
    assert answer["prediction"] is None and answer["meets_confidence"] is None
    for a in answer["options"].values():
        assert a["status"] == "not_served"
        assert "has no prediction: warming up: 12 of 34 bars" in a["reason"]
