"""Predict: a closed bar's features -> live (and shadow) prediction -> Firestore.

One `Predictor` per instance (cached): its model registry, the models whose
metadata it has published, and its pending model counters (`counters`: flushed
in a bar's own commit when due and on every clock message; the loss bound on
scale-in is documented there). It holds nothing a bar depends on: a latest
write skipped by coalescing is owed durably in `owed/{SYM}` (`coalesce`), and
any instance settles it: the symbol's next bar in its own transaction, every
clock message (attribute `kind=clock`, or Cloud Scheduler's
`source=cloud-scheduler`; it also checks for stale feeds), an instance's first
bar, and the next bar (of any symbol) on the instance that left the marker once
it is due. A bar in steady state (no marker of this instance due) runs no sweep:
its round trips are the transaction's read and commit, two.
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
from tickcast.predict import counters, document
from tickcast.predict.alerts import Rules, stale
from tickcast.predict.barplan import BarFacts, BarPlan, BarReads, plan_bar
from tickcast.predict.model import Model
from tickcast.predict.registry import Registry
from tickcast.predict.store import ModelMeta, PredictStore
from tickcast.pubsub import PushedMessage
from tickcast.schema import FeaturesMessage

_log = log.get("predict")

NowNs = Callable[[], int]

# How often, at most, one instance looks for owed latest writes while handling
# bars (one RunQuery on `owed`, due markers only), when it looks at all: on its
# first bar, and once a marker it left itself is due. A clock message always looks.
OWED_SWEEP_MS = 1000
# How many owed symbols one bar's sweep settles (each is one transaction); the
# rest wait for the next sweep. A clock message settles every due one.
OWED_SWEEP_LIMIT = 10
CLOCK_SWEEP_PAGE = 100
CLOCK_SWEEP_PAGES = 10


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
        self.now_ns = now_ns
        self._published: set[tuple[str, str, str]] = set()
        # One Firestore transaction per symbol at a time in this instance: a settle
        # racing a bar commit on symbols/{SYM} makes both wait on the document's
        # lock (seconds on the emulator). A busy symbol's settle waits for the bar,
        # which settles it itself.
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._swept_ms: int | None = None
        self._sweep_guard = threading.Lock()
        # Markers this instance left, symbol -> due_ms: what makes a bar sweep.
        self._owed: dict[str, int] = {}
        self.counters = counters.Pending()

    def _lock(self, symbol: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[symbol]

    # -- bars -------------------------------------------------------------------
    def on_features(self, fm: FeaturesMessage) -> dict[str, Any]:
        if fm.interval_s <= 0:
            raise PermanentError("invalid_features_message", f"interval_s {fm.interval_s} <= 0")
        now_ns = self.now_ns()
        now_ms = now_ns // 1_000_000
        live = self.registry.live()
        shadow = self.registry.shadow()
        publish = self._unpublished(live, shadow)
        prediction = live.predict(fm.features) if fm.ready else None
        challenger = shadow.predict(fm.features) if fm.ready and shadow is not None else None
        hist = document.history(
            fm,
            prediction,
            challenger,
            predict_ns=now_ns,
            retention_days=self.s.prediction_retention_days,
        )
        facts = BarFacts(
            symbol=fm.symbol,
            seq=fm.seq,
            interval_ms=fm.interval_s * 1000,
            close=fm.bar.c,
            ready=fm.ready,
            features=fm.features,
            history=hist,
            latest=document.latest(hist),
        )
        # Predictions made before a model swap may have another horizon: look back
        # as far as the longest one in use.
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

        flush = self.counters.take(now_ms)
        try:
            with self._lock(fm.symbol):
                done = self.store.commit_bar(
                    fm.symbol,
                    fm.seq,
                    facts.interval_ms,
                    hist,
                    max(horizons),
                    planner,
                    flush=flush,
                    publish=publish,
                    now_ms=now_ms,
                )
        except BaseException:
            if flush is not None:
                self.counters.put_back(flush)
            raise
        plan = done.plan
        if not done.flushed:
            self.counters.add(counters.tally(plan.scores), now_ms)
        self._published.update((m.model_id, m.model_version, m.role) for m in publish)
        self._note_owed(fm.symbol, plan)
        if not done.queried and self._should_sweep(now_ms):
            # At most one query per bar: round trips stay bounded.
            self.sweep_owed(now_ms, OWED_SWEEP_LIMIT, exclude=fm.symbol, throttle=True)
        event = fm.trace.get("event")
        _log.info(
            "predicted",
            extra={
                "symbol": fm.symbol,
                "seq": fm.seq,
                "ready": fm.ready,
                "model_id": live.model_id,
                "model_version": live.model_version,
                "latest": plan.latest.decision,
                "owed": plan.latest.marker,
                "scored": len(plan.scores),
                "alerts": [a.kind for a in plan.alerts],
                "latency_ms": (now_ns - event) / 1e6 if event else None,
            },
        )
        return hist

    # -- owed latest writes and the clock -----------------------------------------
    def _note_owed(self, symbol: str, plan: BarPlan) -> None:
        lp = plan.latest
        with self._sweep_guard:
            if lp.marker == "set" and lp.owed is not None:
                self._owed[symbol] = lp.owed.due_ms
            elif lp.marker == "delete" or lp.decision == "write":
                self._owed.pop(symbol, None)

    def _should_sweep(self, now_ms: int) -> bool:
        """On this instance's first bar (markers a stopped instance left), and once a
        marker this instance left is due (it settles everyone's due ones)."""
        with self._sweep_guard:
            return self._swept_ms is None or any(d <= now_ms for d in self._owed.values())

    def sweep_owed(
        self, now_ms: int, limit: int, exclude: str | None = None, throttle: bool = False
    ) -> tuple[int, int]:
        """Settle owed latest writes that are due, whichever instance skipped them.

        Returns (due markers found, latest documents written). A failure is
        logged and left owed: the marker is durable, the next sweep tries again,
        and the message being handled is not at fault.
        """
        with self._sweep_guard:
            if throttle and self._swept_ms is not None and now_ms - self._swept_ms < OWED_SWEEP_MS:
                return 0, 0
            self._swept_ms = now_ms
            # Due markers of this instance are settled below or seen again by the next
            # sweep (at most OWED_SWEEP_MS later): re-armed if the page was full.
            self._owed = {s: d for s, d in self._owed.items() if d > now_ms}
        try:
            due = self.store.owed_due(now_ms, limit)
        except GoogleAPIError as exc:
            _log.warning("owed sweep failed", extra={"error": str(exc)})
            return 0, 0
        written = 0
        skipped: list[str] = []
        for symbol in due:
            if symbol == exclude:
                continue  # its own bar has just settled it or made it owed again
            lock = self._lock(symbol)
            if not lock.acquire(blocking=False):
                continue  # a bar of this symbol is committing: it settles the debt itself
            try:
                decision, _ = self.store.settle_owed(symbol, now_ms, self.s.latest_min_interval_ms)
            except (GoogleAPIError, ValueError) as exc:  # ValueError: commit retries exhausted
                _log.warning("owed settle failed", extra={"symbol": symbol, "error": str(exc)})
                skipped.append(symbol)
                continue
            finally:
                lock.release()
            written += decision == "write"
        if len(due) >= limit or skipped:
            with self._sweep_guard:  # more may be due than one sweep settled: look again
                for symbol in skipped or due:
                    self._owed.setdefault(symbol, now_ms + OWED_SWEEP_MS)
        return len(due), written

    def on_clock(self, now_ms: int) -> int:
        """Flush pending model counters, settle every due owed latest write, then raise
        stale_feed for silent symbols."""
        try:
            self.flush_counters(now_ms)
        except GoogleAPIError as exc:  # kept pending (put back): the next commit retries
            _log.warning("model counters flush failed", extra={"error": str(exc)})
        settled = 0
        for _ in range(CLOCK_SWEEP_PAGES):  # settled markers leave the query: page on
            found, written = self.sweep_owed(now_ms, CLOCK_SWEEP_PAGE)
            settled += written
            if found < CLOCK_SWEEP_PAGE:
                break
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
        _log.info("clock", extra={"stale_alerts": raised, "owed_settled": settled})
        return raised

    def flush_counters(self, now_ms: int) -> int:
        """Write every pending model counter now (one commit); returns the scores written."""
        pending = self.counters.take(now_ms, force=True)
        if not pending:
            return 0
        try:
            self.store.flush_counters(pending)
        except BaseException:
            self.counters.put_back(pending)
            raise
        return sum(c.count for c in pending.values())

    def _unpublished(self, live: Model, shadow: Model | None) -> list[ModelMeta]:
        """Metadata of the served models this instance has not yet written (in the bar's
        commit, so serving a new version costs no round trip)."""
        out = []
        for model, role in ((live, "live"), (shadow, "shadow")):
            if model is None or (model.model_id, model.model_version, role) in self._published:
                continue
            describe = (
                self.registry.describe_live if role == "live" else self.registry.describe_shadow
            )
            out.append(ModelMeta(model.model_id, model.model_version, role, describe()))
        return out


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
