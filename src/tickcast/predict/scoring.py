"""Outcome scoring (pure): a prediction against the move that followed, by seq.

A prediction made at the close of bar P, about `h = horizon_bars` bars ahead,
targets the bar whose seq is exactly `P + h * interval` (seq is the bar's end
time, so bar time, not arrival order and not position in the history, decides
which bar that is). The realised move is log(close_T / close_P), `up` when > 0
(the training label). Per prediction: `hit` = (p_up > 0.5) == up (the same
call as the evaluation's accuracy), `brier` = (p_up - up)^2, `log_loss`
clipped at 1e-15.

Either bar may arrive first: the store pairs a new bar with the predictions it
realises (earlier bars) and with the bars that realise its own predictions
(later bars that arrived first). No bar at the target seq (an empty interval,
a market close) means no outcome: the prediction stays unscored rather than
being scored against another bar. A document's `score` map records what was
scored, which is what makes a redelivery a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# History fields that hold a prediction, scored separately.
ROLES = ("prediction", "shadow")
EPS = 1e-15


@dataclass(frozen=True)
class Outcome:
    seq: int  # the bar that realised it
    log_return: float
    up: bool


@dataclass(frozen=True)
class Score:
    model_id: str
    model_version: str
    p_up: float
    hit: bool
    brier: float
    log_loss: float

    def document(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_version": self.model_version,
            "p_up": self.p_up,
            "hit": self.hit,
            "brier": self.brier,
            "log_loss": self.log_loss,
        }


@dataclass(frozen=True)
class Due:
    seq: int  # the scored history document
    role: str
    score: Score
    outcome: Outcome


def outcome(prev_close: float, close: float, seq: int) -> Outcome:
    r = math.log(close / prev_close)
    return Outcome(seq=seq, log_return=r, up=r > 0)


def score(pred: Mapping[str, Any], out: Outcome) -> Score:
    p = float(pred["p_up"])
    y = 1.0 if out.up else 0.0
    q = min(max(p, EPS), 1 - EPS)
    return Score(
        model_id=str(pred["model_id"]),
        model_version=str(pred["model_version"]),
        p_up=p,
        hit=(p > 0.5) == out.up,
        brier=(p - y) ** 2,
        log_loss=-(y * math.log(q) + (1 - y) * math.log(1 - q)),
    )


def _close(doc: Mapping[str, Any]) -> float | None:
    c = (doc.get("bar") or {}).get("c")
    return float(c) if isinstance(c, int | float) and c > 0 else None


def interval_ms(doc: Mapping[str, Any]) -> int:
    return int(doc.get("interval_s") or 0) * 1000


def target_seq(doc: Mapping[str, Any], pred: Mapping[str, Any]) -> int | None:
    """The seq of the bar that realises `pred`, made at the bar `doc`."""
    h, iv = int(pred.get("horizon_bars") or 0), interval_ms(doc)
    return int(doc["seq"]) + h * iv if h > 0 and iv > 0 else None


def horizons(doc: Mapping[str, Any]) -> set[int]:
    """The horizon of each prediction in a history document."""
    return {int(p["horizon_bars"]) for r in ROLES if (p := doc.get(r)) and p.get("horizon_bars")}


def matured(
    made: Mapping[str, Any], realised: Mapping[str, Any], done: Iterable[str] = ()
) -> list[Due]:
    """The predictions of history document `made` that the bar `realised` scores.

    Only a prediction whose target seq is exactly `realised`'s seq, with both
    closes defined, and whose role is neither in `made`'s `score` map nor in
    `done` (the roles the stored copy of `made` already has).
    """
    c0, c1 = _close(made), _close(realised)
    if c0 is None or c1 is None:  # no defined return; prices are validated upstream
        return []
    seq = int(realised["seq"])
    skip = set(made.get("score") or {}) | set(done)
    out: list[Due] = []
    for role in ROLES:
        pred = made.get(role)
        if pred and role not in skip and target_seq(made, pred) == seq:
            o = outcome(c0, c1, seq)
            out.append(Due(int(made["seq"]), role, score(pred, o), o))
    return out


def due(seq: int, close: float, previous: Iterable[Mapping[str, Any]]) -> list[Due]:
    """The predictions among the history documents `previous` whose target is the bar
    (`seq`, `close`): by seq, so their order and any gaps between them do not matter."""
    realised = {"seq": seq, "bar": {"c": close}}
    return [d for doc in previous for d in matured(doc, realised)]
