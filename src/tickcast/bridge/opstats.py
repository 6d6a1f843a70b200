"""What operators and monitors read: `/health` and the sliding-window figures of `/stats`.

Window: the last WINDOW_S (60) seconds of this instance. Rates divide the events
in the window by the window, or by the time since the instance started while that
is shorter. Percentiles are nearest-rank over the samples in the window.

Latency comes from each document's trace (schema.py: epoch ns stamped by each hop),
so it is measured, not guessed: end to end is `event` (the exchange's time of the
newest tick) to the moment the bridge published the update to its clients' queues
(`trace.bridge`, set by the hub); each hop is its own stamp minus the previous one
present, in the order event, published, ingest, features, predict, bridge. Only
updates the hub actually published count: a redelivered or re-snapshotted document
(a listener restart re-delivers every symbol) would add a stale latency.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tickcast.bridge.listener import CollectionListener

WINDOW_S = 60.0
MAX_SAMPLES = 100_000  # bounds memory whatever the rate: about 10 MB at most
SERVICE = "tickcast-ws-bridge"
HOPS = ("ingest", "features", "predict", "bridge")
_ORDER = ("event", "published", "ingest", "features", "predict", "bridge")
MODEL_REFRESH_S = 30.0  # models/{id} is re-read at most this often


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with q % at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def hop_ms(trace: Mapping[str, Any], bridge_ns: int | None = None) -> dict[str, float]:
    """Milliseconds spent in each hop of one trace (hops whose stamps are missing are left out)."""
    stamps = {k: v for k, v in trace.items() if isinstance(v, int) and k in _ORDER}
    if bridge_ns is not None:
        stamps["bridge"] = bridge_ns
    out: dict[str, float] = {}
    previous: int | None = None
    for key in _ORDER:
        value = stamps.get(key)
        if value is None:
            continue
        if previous is not None and key in HOPS:
            out[key] = (value - previous) / 1e6
        previous = value
    return out


@dataclass
class _Update:
    t: float
    prediction: bool
    e2e_ms: float | None
    hops: dict[str, float]


@dataclass
class StatsWindow:
    """Events of the last `window_s` seconds; `clock` is monotonic seconds (injectable)."""

    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)
    _updates: deque[_Update] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    _requests: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    _sent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    _seen: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    # --- inputs ---
    def observe_update(self, doc: Mapping[str, Any]) -> None:
        """One symbols/{SYM} update the hub published (its trace carries `bridge`)."""
        trace = doc.get("trace")
        trace = trace if isinstance(trace, Mapping) else {}
        event, bridge = trace.get("event"), trace.get("bridge")
        e2e = (bridge - event) / 1e6 if isinstance(event, int) and isinstance(bridge, int) else None
        self._updates.append(
            _Update(self.clock(), doc.get("prediction") is not None, e2e, hop_ms(trace))
        )

    def observe_request(self, hit: bool) -> None:
        """One request_prediction the caller may read: answered from the cache (hit) or not."""
        self._requests.append((self.clock(), hit))

    def observe_sent(self, sent_by_subscriber: Mapping[str, int]) -> None:
        """A sample of each open connection's frames-sent counter (called about once a second).

        Frames are counted as the growth of each counter since the previous sample, so a
        connection that closes between two samples loses at most one interval's frames.
        """
        frames = sum(n - self._seen.get(k, 0) for k, n in sent_by_subscriber.items())
        self._seen = dict(sent_by_subscriber)
        self._sent.append((self.clock(), max(0, frames)))

    # --- outputs ---
    def _span(self, now: float) -> float:
        return max(min(self.window_s, now - self.started), 1e-9)

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        edge = now - self.window_s
        updates = [u for u in self._updates if u.t >= edge]
        requests = [hit for t, hit in self._requests if t >= edge]
        frames = sum(n for t, n in self._sent if t >= edge)
        span = self._span(now)
        e2e = [u.e2e_ms for u in updates if u.e2e_ms is not None]
        hits = sum(requests)
        return {
            "window_s": self.window_s,
            "messages_per_second": round(frames / span, 3),
            "updates_per_second": round(len(updates) / span, 3),
            "predictions_per_second": round(sum(u.prediction for u in updates) / span, 3),
            "average_latency_ms": round(sum(e2e) / len(e2e), 3) if e2e else None,
            "p50_latency_ms": _round(percentile(e2e, 50)),
            "p99_latency_ms": _round(percentile(e2e, 99)),
            "latency_samples": len(e2e),
            "hops_ms": {
                hop: {
                    "p50": _round(percentile((u.hops[hop] for u in updates if hop in u.hops), 50)),
                    "p99": _round(percentile((u.hops[hop] for u in updates if hop in u.hops), 99)),
                }
                for hop in HOPS
            },
            "prediction_requests": len(requests),
            "cache_hit_rate": round(hits / len(requests), 4) if requests else None,
        }

    def trim(self) -> None:
        """Drop what left the window (memory stays bounded by MAX_SAMPLES regardless)."""
        edge = self.clock() - self.window_s
        while self._updates and self._updates[0].t < edge:
            self._updates.popleft()
        while self._requests and self._requests[0][0] < edge:
            self._requests.popleft()
        while self._sent and self._sent[0][0] < edge:
            self._sent.popleft()


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


@dataclass
class LiveModel:
    """The live model's scores, from models/{id} (re-read every MODEL_REFRESH_S)."""

    model_id: str | None = None
    doc: dict[str, Any] | None = None
    read_at: float = 0.0
    error: str | None = None

    def view(self) -> dict[str, Any]:
        from tickcast.predict.store import live_scores

        scores = live_scores(self.doc) if self.doc else {}
        return {
            "model_id": self.model_id,
            "model_version": (self.doc or {}).get("model_version"),
            "hit_rate": scores.get("hit_rate"),
            "brier": scores.get("brier"),
            "scored": scores.get("count", 0),
            "read_age_s": round(time.monotonic() - self.read_at, 1) if self.read_at else None,
            "error": self.error,
        }


def live_model_id(latest: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The model the newest prediction came from: the latest documents carry only the live
    model's prediction (the shadow's is kept in history), so this is the live model."""
    newest: tuple[int, str] | None = None
    for doc in latest.values():
        pred = doc.get("prediction")
        seq = doc.get("seq")
        if isinstance(pred, Mapping) and isinstance(pred.get("model_id"), str):
            mark = (int(seq) if isinstance(seq, int) else -1, str(pred["model_id"]))
            if newest is None or mark > newest:
                newest = mark
    return None if newest is None else newest[1]


ModelReader = Callable[[str], "dict[str, Any] | None"]


def model_reader(source: Any) -> ModelReader | None:
    """How to read models/{id} from the bridge's source (None: this source has no models)."""
    from tickcast.bridge.source import FirestoreSource
    from tickcast.predict.store import MODELS

    if isinstance(source, FirestoreSource):
        client = source._client

        def read(model_id: str) -> dict[str, Any] | None:
            snap = client().collection(MODELS).document(model_id).get()
            return snap.to_dict() if snap.exists else None

        return read
    docs = getattr(source, "docs", None)  # MemorySource
    if isinstance(docs, dict):
        return lambda model_id: docs.get(MODELS, {}).get(model_id)
    return None


# --- /health ---------------------------------------------------------------


def listener_problem(lst: CollectionListener, silence_s: float) -> str | None:
    """What the watchdog would restart a listener for (a moving range is routine, not a fault)."""
    if not lst.active:
        return f"listener {lst.collection}: watch stopped ({lst.last_error or 'no error'})"
    if not lst.synced:
        return f"listener {lst.collection}: not synced yet"
    if lst.restart_when_silent and silence_s > 0 and lst.silent_for() > silence_s:
        return f"listener {lst.collection}: no change for {lst.silent_for():.0f} s"
    return None


def health(
    *,
    version: str,
    uptime_s: float,
    listeners: list[CollectionListener],
    silence_s: float,
    draining: bool,
) -> dict[str, Any]:
    """`healthy`, or `degraded` with the reasons; always served with HTTP 200."""
    reasons: list[str] = []
    if draining:
        reasons.append("draining: SIGTERM received, clients are being moved to other instances")
    if not listeners:
        reasons.append("listeners not started")
    for lst in listeners:
        why = listener_problem(lst, silence_s)
        if why is not None:
            reasons.append(why)
    out: dict[str, Any] = {
        "status": "degraded" if reasons else "healthy",
        "service": SERVICE,
        "version": version,
        "uptime_s": round(uptime_s, 1),
    }
    if reasons:
        out["reasons"] = reasons
    return out
