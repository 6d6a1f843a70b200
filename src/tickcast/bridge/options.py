"""What `request_prediction`'s options can honestly be served (pure).

The bridge answers from the latest document of a symbol (`symbols/{SYM}`): one
live model and one horizon per deployment. Each option the client sets is
answered `served` or `not_served`, with a reason, every time:

- `model` is served when it names the live model (`prediction.model_id`, e.g.
  `ensemble` when TICKCAST_MODEL_URI=ensemble). The challenger (shadow) model's
  predictions exist only in history and are never sent to clients (view.py),
  so naming it is answered `not_served`, like any other model.
- `horizon` is served when it is the live horizon: `horizon_bars` in bars
  (`1`, `"3"`, `"3bars"`) or the same time (`horizon_bars` x `interval_s`:
  `"60s"`, `"5m"`, `"1h"`, `"1d"`, `"1w"`).
- `confidence` would be a band on `p_up` at that level. The models are point
  estimates: they keep no parameter or calibration uncertainty, so no band can be
  computed honestly and it is always `not_served`; `meets_confidence` still says
  whether the prediction's own `confidence` (max(p_up, 1 - p_up)) reaches it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from tickcast.bridge.protocol import RequestOptions

Status = Literal["served", "not_served"]
SERVED: Status = "served"
NOT_SERVED: Status = "not_served"

_UNIT_S = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86_400),
    **dict.fromkeys(("w", "wk", "week", "weeks"), 604_800),
}
_BARS = ("", "b", "bar", "bars")
_HORIZON = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
HORIZON_FORMATS = "bars ('3', '3bars') or a duration ('90s', '5m', '1h', '1d', '1w')"


def parse_horizon(raw: str | int) -> tuple[float, Literal["bars", "seconds"]] | None:
    """`3`, `'3'`, `'3bars'` -> (3, 'bars'); `'1d'` -> (86400, 'seconds'); None if neither."""
    if isinstance(raw, int):
        return float(raw), "bars"
    m = _HORIZON.match(raw.lower())
    if m is None:
        return None
    n, unit = float(m.group(1)), m.group(2)
    if unit in _BARS:
        return n, "bars"
    if unit in _UNIT_S:
        return n * _UNIT_S[unit], "seconds"
    return None


def human(seconds: float) -> str:
    """86400 -> '1d', 90 -> '90s': the largest unit that divides it."""
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _answer(requested: object, status: Status, reason: str) -> dict[str, Any]:
    return {"requested": requested, "status": status, "reason": reason}


def _model(requested: str, pred: dict[str, Any]) -> dict[str, Any]:
    live = str(pred.get("model_id"))
    if requested.strip().casefold() == live.casefold():
        return _answer(
            requested, SERVED, f"'{live}' is the live model (version {pred.get('model_version')})"
        )
    return _answer(
        requested,
        NOT_SERVED,
        f"model '{requested}' is not served here; answered with the live model '{live}' "
        "(one model per deployment, TICKCAST_MODEL_URI; a challenger's predictions are "
        "kept for scoring and never sent to clients)",
    )


def _horizon(requested: str | int, pred: dict[str, Any], interval_s: object) -> dict[str, Any]:
    bars = pred.get("horizon_bars")
    if not isinstance(bars, int) or bars <= 0:
        return _answer(requested, NOT_SERVED, "this prediction does not say its horizon")
    step = interval_s if isinstance(interval_s, int | float) and interval_s > 0 else None
    live = f"{bars} bar{'s' if bars != 1 else ''}"
    if step is not None:
        live += f" of {step:g} s ({human(bars * step)})"
    parsed = parse_horizon(requested)
    if parsed is None:
        return _answer(
            requested,
            NOT_SERVED,
            f"horizon '{requested}' is not understood (use {HORIZON_FORMATS}); "
            f"this prediction looks {live} ahead",
        )
    amount, unit = parsed
    if unit == "bars" and amount == bars:
        return _answer(requested, SERVED, f"this prediction looks {live} ahead")
    if unit == "seconds" and step is not None and amount == bars * step:
        return _answer(requested, SERVED, f"this prediction looks {live} ahead")
    asked = f"{amount:g} bars" if unit == "bars" else f"{amount:g} s"
    return _answer(
        requested,
        NOT_SERVED,
        f"horizon '{requested}' ({asked}) is not served here; this prediction looks {live} "
        "ahead (one horizon per deployment: TICKCAST_HORIZON_BARS bars of TICKCAST_BAR_SECONDS)",
    )


def _confidence(requested: float, pred: dict[str, Any]) -> dict[str, Any]:
    conf = pred.get("confidence")
    own = f"{conf:.3g}" if isinstance(conf, int | float) else "unknown"
    return _answer(
        requested,
        NOT_SERVED,
        f"no {requested:g} band on p_up: the model gives a point estimate and keeps no "
        "parameter or calibration uncertainty to compute one from; meets_confidence says "
        f"whether the prediction's confidence, max(p_up, 1 - p_up) = {own}, reaches {requested:g}",
    )


def answer_options(opts: RequestOptions, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each option the request set: `requested`, `status` and `reason`."""
    asked: dict[str, Any] = {
        k: v
        for k, v in (
            ("model", opts.model),
            ("horizon", opts.horizon),
            ("confidence", opts.confidence),
        )
        if v is not None
    }
    pred = doc.get("prediction")
    if not isinstance(pred, dict):
        why = doc.get("reason") or "not ready"
        reason = f"the latest bar ({doc.get('seq')}) has no prediction: {why}"
        return {k: _answer(v, NOT_SERVED, reason) for k, v in asked.items()}
    out: dict[str, dict[str, Any]] = {}
    if opts.model is not None:
        out["model"] = _model(opts.model, pred)
    if opts.horizon is not None:
        out["horizon"] = _horizon(opts.horizon, pred, doc.get("interval_s"))
    if opts.confidence is not None:
        out["confidence"] = _confidence(opts.confidence, pred)
    return out
