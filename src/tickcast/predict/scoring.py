"""Outcome scoring (pure): a prediction against the move that followed.

At the close of bar S, the prediction made h bars earlier (the h-th previous
history document, h = its own `horizon_bars`) is due: the realised move is
log(close_S / close_P), `up` when > 0 (the training label). Per prediction:
`hit` = (p_up > 0.5) == up (the same call as the evaluation's accuracy),
`brier` = (p_up - up)^2, `log_loss` clipped at 1e-15. A document's `score`
map records what was scored, which is what makes a redelivery a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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


def due(seq: int, close: float, previous: Sequence[Mapping[str, Any]]) -> list[Due]:
    """Predictions whose horizon ends at this bar; `previous` is newest first."""
    out: list[Due] = []
    if not close > 0:  # no defined return; prices are validated upstream, this is a guard
        return out
    for i, doc in enumerate(previous):
        done = doc.get("score") or {}
        prev_close = (doc.get("bar") or {}).get("c")
        if not prev_close or prev_close <= 0:
            continue
        for role in ROLES:
            pred = doc.get(role)
            if pred and int(pred.get("horizon_bars", 0)) == i + 1 and role not in done:
                o = outcome(float(prev_close), close, seq)
                out.append(Due(int(doc["seq"]), role, score(pred, o), o))
    return out
