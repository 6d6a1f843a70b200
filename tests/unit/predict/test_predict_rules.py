"""Pure decisions of the stage: coalescing, outcome scoring, alerts and cooldown."""

from __future__ import annotations

import math

import pytest

from tickcast.predict import alerts, coalesce, scoring
from tickcast.predict.plan import BarFacts, BarReads, plan_bar

RULES = alerts.Rules(
    confidence=0.6, rsi_overbought=70, rsi_oversold=30, cooldown_ms=5000, stale_bars=5
)


def pred(
    p_up: float, direction: str = "up", horizon: int = 1, model: str = "m"
) -> dict[str, object]:
    return {
        "model_id": model,
        "model_version": "1",
        "horizon_bars": horizon,
        "p_up": p_up,
        "direction": direction,
        "confidence": max(p_up, 1 - p_up),
    }


def hist(seq: int, close: float, **fields: object) -> dict[str, object]:
    return {"seq": seq, "bar": {"c": close}, **fields}


@pytest.mark.parametrize(
    ("cur_seq", "cur_updated", "seq", "now", "expected"),
    [
        (None, None, 5, 0, "write"),  # first document
        (4, 1000, 5, 1999, "recent"),  # inside the interval
        (4, 1000, 5, 2000, "write"),
        (6, 0, 5, 10_000, "older"),  # never backwards
        (5, 0, 5, 10_000, "write"),  # a redelivery of the newest bar may rewrite it
    ],
)
def test_latest_write_decision(cur_seq, cur_updated, seq, now, expected) -> None:
    assert coalesce.decide(cur_seq, cur_updated, seq, now, 1000) == expected


def test_pending_keeps_the_newest_skipped_bar_until_settled() -> None:
    p = coalesce.Pending()
    p.hold("A", 2, {"seq": 2}, due_ms=100)
    p.hold("A", 1, {"seq": 1}, due_ms=50)  # an older one never replaces a newer one
    p.hold("B", 7, {"seq": 7}, due_ms=300)
    assert [h.seq for h in p.due(100)] == [2]
    assert p.due(100, exclude="A") == []
    p.settled("A", 1)
    assert p.get("A") is not None  # 2 is still owed
    p.settled("A", 3)
    assert p.get("A") is None and len(p) == 1


def test_a_prediction_is_scored_at_the_end_of_its_own_horizon() -> None:
    previous = [  # newest first: 1 and 2 bars before the bar at seq 30
        hist(20, 10.0, prediction=pred(0.7, horizon=2)),
        hist(
            10, 8.0, prediction=pred(0.7, horizon=2), shadow=pred(0.4, "down", horizon=2, model="c")
        ),
    ]
    due = scoring.due(30, 9.0, previous)
    assert [(d.seq, d.role) for d in due] == [(10, "prediction"), (10, "shadow")]
    live, shadow = due
    assert live.outcome.log_return == pytest.approx(math.log(9 / 8)) and live.outcome.up
    assert live.score.hit and not shadow.score.hit
    assert live.score.brier == pytest.approx(0.09) and shadow.score.brier == pytest.approx(0.36)
    assert live.score.log_loss == pytest.approx(-math.log(0.7))


def test_a_scored_prediction_is_never_scored_again() -> None:
    done = hist(10, 8.0, prediction=pred(0.7), score={"prediction": {"hit": True}})
    assert scoring.due(20, 9.0, [done]) == []
    assert scoring.due(20, 9.0, [hist(10, 8.0, prediction=None)]) == []  # not ready: nothing
    flat = scoring.due(20, 8.0, [hist(10, 8.0, prediction=pred(0.6))])[0]
    assert not flat.outcome.up and not flat.score.hit  # no move counts as not up


def test_signal_alerts_fire_on_their_thresholds(features: dict[str, float | None]) -> None:
    f = {**features, "rsi_14": 75.0, "close": 11.0}  # above the upper band 10.9
    got = alerts.signals(RULES, "AAA", 100, f, pred(0.7, "up"), pred(0.3, "down"))
    kinds = {a.kind: a for a in got}
    assert set(kinds) == {
        "high_confidence",
        "direction_flip",
        "rsi_overbought",
        "bollinger_breakout_up",
    }
    assert (kinds["rsi_overbought"].value, kinds["rsi_overbought"].threshold) == (75.0, 70.0)
    assert kinds["bollinger_breakout_up"].threshold == 10.9
    assert kinds["high_confidence"].doc_id == "AAA-100-high_confidence"
    calm = alerts.signals(RULES, "AAA", 100, features, pred(0.55, "up"), pred(0.5, "flat"))
    assert calm == []  # flat -> up is not a flip; 0.55 is not confident; RSI 61 inside the band
    low = {**features, "rsi_14": 25.0, "close": 9.0}
    assert {a.kind for a in alerts.signals(RULES, "A", 1, low, None, None)} == {
        "rsi_oversold",
        "bollinger_breakout_down",
    }


def test_cooldown_is_in_bar_time_and_a_redelivery_never_fires_twice() -> None:
    a = alerts.Alert("A", 10_000, "rsi_overbought", "", 75, 70)
    assert alerts.after_cooldown([a], {}, 5000) == [a]
    assert alerts.after_cooldown([a], {"rsi_overbought": 10_000}, 0) == []  # same bar again
    assert alerts.after_cooldown([a], {"rsi_overbought": 6_000}, 5000) == []
    assert alerts.after_cooldown([a], {"rsi_overbought": 5_000}, 5000) == [a]
    assert alerts.after_cooldown([a], {"high_confidence": 9_999}, 5000) == [a]  # per kind


def test_stale_feed_names_the_last_bar_before_the_silence() -> None:
    assert alerts.stale(RULES, "A", 1000, 5000, 1000) is None
    s = alerts.stale(RULES, "A", 1000, 6000, 1000)
    assert s is not None and (s.seq, s.value, s.threshold) == (1000, 5.0, 5.0)


def test_plan_combines_the_decisions_of_one_bar(features: dict[str, float | None]) -> None:
    reads = BarReads(
        latest_seq=9000,
        latest_updated_ms=99_500,
        previous=[hist(9000, 10.0, prediction=pred(0.3, "down"))],
        last_alerts={},
    )
    bar = BarFacts("A", 10_000, 1000, 10.5, True, features, pred(0.8, "up"))
    plan = plan_bar(reads, bar, now_ms=100_000, min_interval_ms=1000, rules=RULES)
    assert plan.latest == "recent" and plan.latest_due_ms == 100_500
    assert [d.seq for d in plan.scores] == [9000] and not plan.scores[0].score.hit
    assert {a.kind for a in plan.alerts} == {"high_confidence", "direction_flip"}
    gap = BarFacts("A", 20_000, 1000, 10.5, False, {}, None)
    plan = plan_bar(reads, gap, now_ms=200_000, min_interval_ms=1000, rules=RULES)
    assert plan.latest == "write" and [(a.kind, a.seq) for a in plan.alerts] == [
        ("stale_feed", 9000)
    ]


def test_a_bar_without_a_positive_interval_is_bad_input() -> None:
    from tickcast.config import Settings
    from tickcast.errors import PermanentError
    from tickcast.predict.stage import Predictor
    from tickcast.schema import Bar, FeaturesMessage

    bar = Bar(t=0, o=1, h=1, l=1, c=1, v=1, vwap=1, n=1)
    fm = FeaturesMessage(symbol="A", interval_s=0, seq=1, bar=bar, features={}, ready=False)
    # Refused before any model or Firestore call: no client is needed.
    with pytest.raises(PermanentError, match="interval_s"):
        Predictor(Settings.from_env({}), client=None).on_features(fm)  # type: ignore[arg-type]
