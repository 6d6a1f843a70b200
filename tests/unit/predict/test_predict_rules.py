"""Pure decisions of the stage: coalescing and the owed marker, outcome scoring by
seq, alerts and cooldown."""

from __future__ import annotations

import math

import pytest

from tickcast.predict import alerts, coalesce, scoring
from tickcast.predict.barplan import BarFacts, BarReads, plan_bar, previous

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


def hist(seq: int, close: float, interval_s: int = 10, **fields: object) -> dict[str, object]:
    return {"seq": seq, "interval_s": interval_s, "bar": {"c": close}, **fields}


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


def owed(seq: int, due: int = 0) -> coalesce.Owed:
    return coalesce.Owed("A", seq, due, {"seq": seq, "updated_at": 0})


def test_a_skipped_bar_is_owed_durably_and_the_marker_holds_the_newest() -> None:
    def plan(cur: int | None, updated: int | None, seq: int, marker: coalesce.Owed | None):
        return coalesce.plan_latest(
            symbol="A",
            seq=seq,
            latest={"seq": seq, "updated_at": 5000},
            current_seq=cur,
            current_updated_ms=updated,
            owed=marker,
            now_ms=5000,
            min_interval_ms=1000,
        )

    skipped = plan(4, 4500, 5, None)  # written 0.5 s ago: too soon
    assert skipped.decision == "recent" and skipped.marker == "set"
    assert skipped.owed == coalesce.Owed("A", 5, 5500, {"seq": 5, "updated_at": 5000})
    assert plan(4, 4500, 6, owed(5)).marker == "set"  # a newer skipped bar replaces it
    assert plan(4, 4500, 5, owed(6)).marker == "keep"  # an older one never does
    wrote = plan(4, 3000, 7, owed(6))
    assert (wrote.decision, wrote.marker, wrote.doc["seq"]) == ("write", "delete", 7)
    late = plan(4, 3000, 5, owed(6))  # a late bar writes what is owed, not itself
    assert (late.decision, late.marker, late.doc) == (
        "write",
        "delete",
        {"seq": 6, "updated_at": 5000},
    )
    assert plan(8, 3000, 5, owed(9)).marker == "keep"  # older than the latest: history only


@pytest.mark.parametrize(
    ("cur_seq", "cur_updated", "marker", "expected"),
    [
        (4, 0, None, "none"),
        (4, 0, owed(5), "write"),
        (4, 4500, owed(5), "recent"),  # another write 0.5 s ago: later
        (5, 0, owed(5), "done"),  # the latest already holds it
        (6, 0, owed(5), "done"),
        (None, None, owed(5), "write"),
    ],
)
def test_settling_an_owed_write(cur_seq, cur_updated, marker, expected) -> None:
    assert coalesce.settle(cur_seq, cur_updated, marker, 5000, 1000) == expected


def test_a_prediction_is_scored_at_the_end_of_its_own_horizon() -> None:
    previous = [  # 1 and 2 intervals (of 10 s) before the bar at seq 30_000
        hist(20_000, 10.0, prediction=pred(0.7, horizon=2)),
        hist(
            10_000,
            8.0,
            prediction=pred(0.7, horizon=2),
            shadow=pred(0.4, "down", horizon=2, model="c"),
        ),
    ]
    due = scoring.due(30_000, 9.0, previous)
    assert [(d.seq, d.role) for d in due] == [(10_000, "prediction"), (10_000, "shadow")]
    live, shadow = due
    assert live.outcome.log_return == pytest.approx(math.log(9 / 8)) and live.outcome.up
    assert live.score.hit and not shadow.score.hit
    assert live.score.brier == pytest.approx(0.09) and shadow.score.brier == pytest.approx(0.36)
    assert live.score.log_loss == pytest.approx(-math.log(0.7))


def test_scoring_is_by_seq_not_by_position() -> None:
    made = hist(10_000, 8.0, prediction=pred(0.7, horizon=1))
    # The bar after a gap is not the bar one interval later: nothing to score.
    assert scoring.matured(made, hist(30_000, 9.0)) == []
    assert scoring.matured(made, hist(20_000, 9.0))[0].outcome.seq == 20_000
    # Position does not matter either: another document in between changes nothing.
    assert [d.seq for d in scoring.due(20_000, 9.0, [hist(15_000, 1.0), made])] == [10_000]
    two = hist(10_000, 8.0, prediction=pred(0.7, horizon=2))
    assert scoring.matured(two, hist(20_000, 9.0)) == []
    assert [d.outcome.seq for d in scoring.matured(two, hist(30_000, 9.0))] == [30_000]
    # What the stored copy already scored is never scored again.
    assert scoring.matured(made, hist(20_000, 9.0), done={"prediction"}) == []


def test_a_scored_prediction_is_never_scored_again() -> None:
    done = hist(10, 8.0, prediction=pred(0.7), score={"prediction": {"hit": True}})
    assert scoring.due(10_010, 9.0, [done]) == []
    assert scoring.due(10_010, 9.0, [hist(10, 8.0, prediction=None)]) == []  # not ready
    flat = scoring.due(10_010, 8.0, [hist(10, 8.0, prediction=pred(0.6))])[0]
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


def bar(seq: int, close: float, ready: bool, features, prediction) -> BarFacts:
    history = {
        "symbol": "A",
        "seq": seq,
        "interval_s": 1,
        "bar": {"c": close},
        "prediction": prediction,
        "updated_at": seq,
    }
    return BarFacts("A", seq, 1000, close, ready, features, history, dict(history))


def test_plan_combines_the_decisions_of_one_bar(features: dict[str, float | None]) -> None:
    before = hist(9000, 10.0, interval_s=1, prediction=pred(0.3, "down"))
    reads = BarReads(
        latest={"seq": 9000, "updated_at": 99_500},
        earlier={9000: before},
        previous=before,
    )
    plan = plan_bar(
        reads,
        bar(10_000, 10.5, True, features, pred(0.8, "up")),
        now_ms=100_000,
        min_interval_ms=1000,
        rules=RULES,
    )
    assert plan.latest.decision == "recent" and plan.latest.owed.due_ms == 100_500
    assert [d.seq for d in plan.scores] == [9000] and not plan.scores[0].score.hit
    assert {a.kind for a in plan.alerts} == {"high_confidence", "direction_flip"}
    gap = bar(20_000, 10.5, False, {}, None)
    plan = plan_bar(reads, gap, now_ms=200_000, min_interval_ms=1000, rules=RULES)
    assert plan.latest.decision == "write" and [(a.kind, a.seq) for a in plan.alerts] == [
        ("stale_feed", 9000)
    ]
    assert plan.scores == []  # 9000's horizon ended at 10_000, not at the bar after the gap


def test_a_bar_scores_its_own_prediction_when_the_later_bar_came_first(
    features: dict[str, float | None],
) -> None:
    later = hist(11_000, 11.0, interval_s=1)
    own = bar(10_000, 10.0, True, features, pred(0.8, "up"))
    plan = plan_bar(
        BarReads(later={11_000: later}), own, now_ms=0, min_interval_ms=1000, rules=RULES
    )
    assert [(d.seq, d.role, d.outcome.seq, d.score.hit) for d in plan.scores] == [
        (10_000, "prediction", 11_000, True)
    ]
    stored = {**own.history, "score": {"prediction": {"hit": True}}}  # a redelivery
    again = plan_bar(
        BarReads(later={11_000: later}, own=stored),
        own,
        now_ms=0,
        min_interval_ms=1000,
        rules=RULES,
    )
    assert again.scores == []


def test_the_previous_bar_comes_from_reads_by_id_unless_a_late_bar_follows_a_gap() -> None:
    one_before = {"seq": 9000}
    assert previous(10_000, 1000, None, None, {9000: one_before}) == (True, one_before)
    assert previous(10_000, 1000, None, None, {}) == (True, None)  # the first bar
    latest, marker = {"seq": 5000}, owed(7000)
    assert previous(10_000, 1000, latest, marker, {}) == (True, marker.latest)  # gap after 7000
    assert previous(10_000, 1000, {"seq": 12_000}, None, {}) == (False, None)  # ask a query


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


def test_every_alert_carries_its_ttl_timestamp() -> None:
    """Firestore's TTL policy on alerts.expire_at bounds the collection; the field must be a
    timestamp (TTL ignores integers such as created_at)."""
    from datetime import UTC, datetime, timedelta

    from tickcast.predict.alerts import ALERT_RETENTION_DAYS, Alert

    alert = Alert("AAPL", 60_000, "rsi_overbought", "RSI 75 >= 70", 75.0, 70.0)
    doc = alert.document(1_700_000_000_000)
    assert doc["expire_at"] == datetime.fromtimestamp(1_700_000_000, UTC) + timedelta(
        days=ALERT_RETENTION_DAYS
    )
