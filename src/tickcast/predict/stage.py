"""Predict: a closed bar's features -> live (and shadow) prediction -> Firestore.

One `Predictor` per instance (cached): its model registry, the latest
documents it still owes (`coalesce.Pending`) and the models whose metadata it
has published. Clock messages (attribute `kind=clock`, or Cloud Scheduler's
`source=cloud-scheduler`) catch up owed latest documents and check for stale
feeds, if the clock topic is routed here.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from google.api_core.exceptions import GoogleAPIError
from google.cloud import firestore
from pydantic import ValidationError

from tickcast import clients, log
from tickcast.config import Settings
from tickcast.errors import PermanentError
from tickcast.predict import document
from tickcast.predict.alerts import Rules, stale
from tickcast.predict.coalesce import Pending
from tickcast.predict.model import Model
from tickcast.predict.plan import BarFacts, BarPlan, BarReads, plan_bar
from tickcast.predict.registry import Registry
from tickcast.predict.store import PredictStore
from tickcast.pubsub import PushedMessage
from tickcast.schema import FeaturesMessage

_log = log.get("predict")

NowNs = Callable[[], int]


class Predictor:
    def __init__(
        self,
        s: Settings,
        client: firestore.Client,
        registry: Registry | None = None,
        now_ns: NowNs = time.time_ns,
    ) -> None:
        self.s = s
        self.store = PredictStore(client)
        self.registry = registry or registry_for(s)
        self.rules = Rules.from_settings(s)
        self.pending = Pending()
        self.now_ns = now_ns
        self._published: set[tuple[str, str, str]] = set()
        # One Firestore transaction per symbol at a time in this instance: a clock
        # catch-up racing a bar commit on symbols/{SYM} makes both wait on the
        # document's lock (seconds on the emulator). A busy symbol's catch-up waits.
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def _lock(self, symbol: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[symbol]

    # -- bars -------------------------------------------------------------------
    def on_features(self, fm: FeaturesMessage) -> dict[str, Any]:
        if fm.interval_s <= 0:
            raise PermanentError("invalid_features_message", f"interval_s {fm.interval_s} <= 0")
        now_ns = self.now_ns()
        now_ms = now_ns // 1_000_000
        self.catch_up(now_ms, exclude=fm.symbol)
        live = self.registry.live()
        shadow = self.registry.shadow()
        self._publish(live, "live", now_ms)
        if shadow is not None:
            self._publish(shadow, "shadow", now_ms)
        prediction = live.predict(fm.features) if fm.ready else None
        challenger = shadow.predict(fm.features) if fm.ready and shadow is not None else None
        hist = document.history(
            fm,
            prediction,
            challenger,
            predict_ns=now_ns,
            retention_days=self.s.prediction_retention_days,
        )
        latest = document.latest(hist)
        facts = BarFacts(
            symbol=fm.symbol,
            seq=fm.seq,
            interval_ms=fm.interval_s * 1000,
            close=fm.bar.c,
            ready=fm.ready,
            features=fm.features,
            prediction=hist["prediction"],
        )
        horizons = [self.s.horizon_bars, live.horizon_bars] + (
            [shadow.horizon_bars] if shadow else []
        )

        def planner(reads: BarReads) -> BarPlan:
            return plan_bar(
                reads,
                facts,
                now_ms=now_ms,
                min_interval_ms=self.s.latest_min_interval_ms,
                rules=self.rules,
            )

        with self._lock(fm.symbol):
            plan = self.store.commit_bar(fm.symbol, fm.seq, hist, latest, max(horizons), planner)
        if plan.latest == "write":
            self.pending.settled(fm.symbol, fm.seq)
        elif plan.latest == "recent":
            due = plan.latest_due_ms or now_ms + self.s.latest_min_interval_ms
            self.pending.hold(fm.symbol, fm.seq, latest, due)
        event = fm.trace.get("event")
        _log.info(
            "predicted",
            extra={
                "symbol": fm.symbol,
                "seq": fm.seq,
                "ready": fm.ready,
                "model_id": live.model_id,
                "model_version": live.model_version,
                "latest": plan.latest,
                "scored": len(plan.scores),
                "alerts": [a.kind for a in plan.alerts],
                "latency_ms": (now_ns - event) / 1e6 if event else None,
            },
        )
        return hist

    # -- catch-up and clock -----------------------------------------------------
    def catch_up(self, now_ms: int, exclude: str | None = None) -> int:
        """Write the latest documents this instance skipped whose interval has passed."""
        written = 0
        for held in self.pending.due(now_ms, exclude):
            lock = self._lock(held.symbol)
            if not lock.acquire(blocking=False):
                continue  # a bar of this symbol is committing; still owed
            try:
                decision, updated = self.store.write_latest(
                    held.symbol, held.seq, held.doc, now_ms, self.s.latest_min_interval_ms
                )
            except (GoogleAPIError, ValueError) as exc:  # ValueError: commit retries exhausted
                # Still owed: the next message or clock tries again. This message is not at fault.
                _log.warning(
                    "latest catch-up failed", extra={"symbol": held.symbol, "error": str(exc)}
                )
                continue
            finally:
                lock.release()
            if decision == "write":
                written += 1
                self.pending.settled(held.symbol, held.seq)
            elif decision == "older":
                self.pending.settled(held.symbol, held.seq)
            else:  # another instance wrote it recently: due again after its interval
                due = (updated or now_ms) + self.s.latest_min_interval_ms
                self.pending.hold(held.symbol, held.seq, held.doc, due)
        return written

    def on_clock(self, now_ms: int) -> int:
        """Catch up owed latest documents, then raise stale_feed for silent symbols."""
        self.catch_up(now_ms)
        interval_ms = self.s.bar_ms
        raised = 0
        cutoff = now_ms - self.rules.stale_bars * interval_ms
        for doc in self.store.silent_symbols(now_ms - self.s.state_ttl_s * 1000, cutoff):
            alert = stale(
                self.rules,
                str(doc["symbol"]),
                int(doc["seq"]),
                now_ms,
                int(doc.get("interval_s") or self.s.bar_seconds) * 1000,
            )
            if alert is None:
                continue
            lock = self._lock(alert.symbol)
            if not lock.acquire(blocking=False):
                continue  # the symbol is not silent after all: a bar is committing
            try:
                if self.store.commit_alert(alert, self.rules.cooldown_ms, now_ms):
                    raised += 1
            finally:
                lock.release()
        _log.info("clock", extra={"stale_alerts": raised, "owed_latest": len(self.pending)})
        return raised

    def _publish(self, model: Model, role: str, now_ms: int) -> None:
        key = (model.model_id, model.model_version, role)
        if key in self._published:
            return
        describe = self.registry.describe_live if role == "live" else self.registry.describe_shadow
        self.store.publish_model(model.model_id, model.model_version, role, describe(), now_ms)
        self._published.add(key)


def registry_for(s: Settings) -> Registry:
    return Registry(
        live_uri=s.model_uri,
        shadow_uri=s.shadow_model_uri,
        ensemble_spec=s.ensemble_models,
        horizon_bars=s.horizon_bars,
        refresh_s=s.model_refresh_s,
    )


@cache
def _predictor(s: Settings) -> Predictor:
    return Predictor(s, clients.firestore_client(s.project_id))


def _is_clock(msg: PushedMessage) -> bool:
    return (
        msg.attributes.get("kind") == "clock" or msg.attributes.get("source") == "cloud-scheduler"
    )


def _clock_ms(msg: PushedMessage) -> int:
    try:
        body = orjson.loads(msg.data) if msg.data.strip() else {}
        now_ns = int(body.get("now_ns") or msg.publish_time_ns or time.time_ns())
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError("invalid_clock_message", str(exc)) from None
    return now_ns // 1_000_000


def handle(msg: PushedMessage, s: Settings) -> dict[str, Any] | int:
    if _is_clock(msg):
        return _predictor(s).on_clock(_clock_ms(msg))
    try:
        fm = FeaturesMessage.model_validate_json(msg.data)
    except ValidationError as exc:
        raise PermanentError("invalid_features_message", str(exc)) from None
    return _predictor(s).on_features(fm)
