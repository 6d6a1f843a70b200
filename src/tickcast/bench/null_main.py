"""The null pipeline of `tickcast bench e2e`: the same hops, emulators, topics and
Firestore write as the real one, with handlers that do nothing else.

ingest forwards each symbol's trades as a ticks message (no validation, dedupe
or Redis); features forwards one message per bar boundary crossed (kept in
process memory, no Redis, no indicators); predict writes the latest and the
history document in one batch. The difference between the two pipelines'
figures is what tickcast's own work costs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import functions_framework
import orjson
from cloudevents.http import CloudEvent

from tickcast import clients
from tickcast.config import settings
from tickcast.pubsub import PushedMessage, decode_push, publish

_last_bar: dict[str, int] = {}


def _ns(rfc3339: str) -> int:
    """2024-03-04T14:30:00.123456789Z -> epoch ns (the replay's fixed layout)."""
    secs, _, frac = rfc3339.rstrip("Z").partition(".")
    whole = int(datetime.fromisoformat(secs).replace(tzinfo=UTC).timestamp())
    return whole * 1_000_000_000 + int((frac + "000000000")[:9])


def forward_ticks(msg: PushedMessage) -> list[tuple[bytes, str, dict[str, str]]]:
    """The null ingest's whole work on one raw Alpaca message: a ticks message per symbol
    (also `tickcast bench ingest`'s reference)."""
    by_symbol: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in orjson.loads(msg.data):
        by_symbol[t["S"]].append({"ts": _ns(t["t"]), "price": t["p"], "size": t["s"]})
    now = time.time_ns()
    out: list[tuple[bytes, str, dict[str, str]]] = []
    for sym, ticks in by_symbol.items():
        trace = {
            "event": max(t["ts"] for t in ticks),
            "published": msg.publish_time_ns,
            "ingest": now,
        }
        body = {"v": 1, "symbol": sym, "ticks": ticks, "batch": msg.message_id, "trace": trace}
        out.append((orjson.dumps(body), sym, {}))
    return out


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    publish(settings(), "ticks", forward_ticks(decode_push(event.data)))


@functions_framework.cloud_event
def features(event: CloudEvent) -> None:
    s = settings()
    msg = decode_push(event.data)
    if msg.attributes.get("kind") == "clock":
        return
    body = orjson.loads(msg.data)
    sym = body["symbol"]
    newest = max(t["ts"] for t in body["ticks"]) // 1_000_000
    start = newest - newest % s.bar_ms
    previous = _last_bar.get(sym)
    _last_bar[sym] = start
    if previous is None or start <= previous:
        return
    price = body["ticks"][-1]["price"]
    bar = {
        "t": previous,
        "o": price,
        "h": price,
        "l": price,
        "c": price,
        "v": 0.0,
        "vwap": price,
        "n": 0,
    }
    fm = {
        "v": 1,
        "symbol": sym,
        "interval_s": s.bar_seconds,
        "seq": previous + s.bar_ms,
        "bar": bar,
        "features": {},
        "ready": True,
        "trace": {**body["trace"], "features": time.time_ns()},
    }
    publish(s, "features", [(orjson.dumps(fm), sym, {})])


@functions_framework.cloud_event
def predict(event: CloudEvent) -> None:
    s = settings()
    msg = decode_push(event.data)
    if msg.attributes.get("kind") == "clock":  # the real predict's clock work has no null twin
        return
    fm = orjson.loads(msg.data)
    fm["trace"]["predict"] = time.time_ns()
    fm["prediction"] = None
    db = clients.firestore_client(s.project_id)
    ref = db.collection("symbols").document(fm["symbol"])
    batch = db.batch()
    batch.set(ref, fm)
    batch.set(ref.collection("predictions").document(f"{fm['seq']:015d}"), fm)
    batch.commit()
