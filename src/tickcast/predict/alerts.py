"""Alert rules (pure). Stored at `alerts/{SYMBOL}-{seq}-{kind}`.

Kinds and when they fire (thresholds from Settings):
- `high_confidence`: the live prediction's confidence >= TICKCAST_ALERT_CONFIDENCE;
- `direction_flip`: the live direction is `up` after `down` on the previous bar,
  or the reverse (`flat` on either side is not a flip);
- `rsi_overbought` / `rsi_oversold`: rsi_14 >= / <= the thresholds;
- `bollinger_breakout_up` / `_down`: the close outside the upper / lower band;
- `stale_feed`: no bar for TICKCAST_STALE_FEED_BARS intervals after the bar
  `seq` (the alert's seq is the last bar before the silence, so the next-bar
  and the clock checks of one silence name the same document).

Cooldown, per symbol and kind, in bar time (seq): an alert fires only if the
last one of its kind is at least TICKCAST_ALERT_COOLDOWN_S older. Measuring in
bar time keeps a replay or a redelivery from firing twice; the last seq per
kind lives in Firestore (`symbols/{SYM}/state/alerts`), so every instance sees it.

Retention: every alert carries `expire_at` (a timestamp, ALERT_RETENTION_DAYS after
it was written); Firestore's TTL policy on `alerts.expire_at` (infra/terraform/
firestore.tf) deletes it after that, so the collection stays bounded. The bridge
streams only recent alerts and strips the field from frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tickcast.config import Settings
from tickcast.predict.model import Features

ALERT_RETENTION_DAYS = 7  # an alert is news: a week is enough to look back on

KINDS = (
    "high_confidence",
    "direction_flip",
    "rsi_overbought",
    "rsi_oversold",
    "bollinger_breakout_up",
    "bollinger_breakout_down",
    "stale_feed",
)


@dataclass(frozen=True)
class Rules:
    confidence: float = 0.6
    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    cooldown_ms: int = 300_000
    stale_bars: int = 5

    @classmethod
    def from_settings(cls, s: Settings) -> Rules:
        return cls(
            confidence=s.alert_confidence,
            rsi_overbought=s.alert_rsi_overbought,
            rsi_oversold=s.alert_rsi_oversold,
            cooldown_ms=s.alert_cooldown_s * 1000,
            stale_bars=s.stale_feed_bars,
        )


@dataclass(frozen=True)
class Alert:
    symbol: str
    seq: int
    kind: str
    message: str
    value: float
    threshold: float

    @property
    def doc_id(self) -> str:
        return f"{self.symbol}-{self.seq}-{self.kind}"

    def document(self, created_at_ms: int) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "seq": self.seq,
            "kind": self.kind,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "created_at": created_at_ms,
            "expire_at": datetime.fromtimestamp(created_at_ms / 1000, UTC)
            + timedelta(days=ALERT_RETENTION_DAYS),
        }


def signals(
    rules: Rules,
    symbol: str,
    seq: int,
    features: Features,
    prediction: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
) -> list[Alert]:
    """Alerts of a ready bar: its prediction against the previous bar's, and its features."""
    out = []

    def add(kind: str, message: str, value: float, threshold: float) -> None:
        out.append(Alert(symbol, seq, kind, message, float(value), float(threshold)))

    if prediction is not None:
        conf = float(prediction["confidence"])
        if conf >= rules.confidence:
            add(
                "high_confidence",
                f"{symbol}: {prediction['direction']} with confidence {conf:.3f} (>= {rules.confidence:g})",
                conf,
                rules.confidence,
            )
        before = previous.get("direction") if previous else None
        now = prediction["direction"]
        if {before, now} == {"up", "down"}:
            add(
                "direction_flip",
                f"{symbol}: direction flipped {before} -> {now}",
                prediction["p_up"],
                0.5,
            )
    rsi = features.get("rsi_14")
    if rsi is not None and rsi >= rules.rsi_overbought:
        add(
            "rsi_overbought",
            f"{symbol}: RSI(14) {rsi:.1f} >= {rules.rsi_overbought:g}",
            rsi,
            rules.rsi_overbought,
        )
    if rsi is not None and rsi <= rules.rsi_oversold:
        add(
            "rsi_oversold",
            f"{symbol}: RSI(14) {rsi:.1f} <= {rules.rsi_oversold:g}",
            rsi,
            rules.rsi_oversold,
        )
    close, upper, lower = features.get("close"), features.get("bb_upper"), features.get("bb_lower")
    if close is not None and upper is not None and close > upper:
        add(
            "bollinger_breakout_up",
            f"{symbol}: close {close:g} above the upper band {upper:g}",
            close,
            upper,
        )
    if close is not None and lower is not None and close < lower:
        add(
            "bollinger_breakout_down",
            f"{symbol}: close {close:g} below the lower band {lower:g}",
            close,
            lower,
        )
    return out


def stale(
    rules: Rules, symbol: str, last_seq: int, until_ms: int, interval_ms: int
) -> Alert | None:
    """`stale_feed` if no bar ended in the `rules.stale_bars` intervals after `last_seq`.

    `until_ms`: the clock's time, or the start of the bar that broke the silence.
    """
    silent = (until_ms - last_seq) / interval_ms
    if silent < rules.stale_bars:
        return None
    return Alert(
        symbol,
        last_seq,
        "stale_feed",
        f"{symbol}: no bar for {silent:.1f} intervals of {interval_ms // 1000}s after seq {last_seq}",
        silent,
        float(rules.stale_bars),
    )


def after_cooldown(
    alerts: Sequence[Alert], last: Mapping[str, int], cooldown_ms: int
) -> list[Alert]:
    """Drop alerts whose kind fired at this seq or less than the cooldown ago."""
    kept = []
    for a in alerts:
        prev = last.get(a.kind)
        if prev is None or (a.seq > prev and a.seq - prev >= cooldown_ms):
            kept.append(a)
    return kept
