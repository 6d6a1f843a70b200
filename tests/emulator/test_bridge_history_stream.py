"""The live path reads history, not the coalesced latest document (issue 16, point 2).

Bars are written as predict writes them: the history document built by
`predict.document.history` (with the shadow model's prediction and the TTL
field), its score added by the next bar's commit, and `symbols/{SYM}` only when
the one-write-a-second rule lets it (here: decided by the test, so the burst is
coalesced whatever the machine's speed). A burst of bars leaves `symbols/{SYM}`
at the first of them, yet every bar reaches each subscribed client (on two
bridge instances) in seq order, exactly once, in the client projection; the
latest write that follows is not sent again. A cold-started bridge reads only
the recent range of history, and publishes nothing old.

Each test uses its own emulator project, so the collection-group listener sees
only the test's documents and its counts mean something.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from tickcast.bridge.app import create_app
from tickcast.config import Settings
from tickcast.predict import document, store
from tickcast.predict.document import HISTORY_ONLY
from tickcast.schema import Bar, FeaturesMessage, Prediction

pytestmark = pytest.mark.emulator

LIVE, SHADOW = "baseline", "logreg-daily"
CLIENT_FIELDS = {
    "symbol",
    "interval_s",
    "seq",
    "bar",
    "features",
    "ready",
    "reason",
    "prediction",
    "updated_at",
    "trace",
}
HANG_GUARD_S = 30.0
STREAM = "symbols/*/predictions"  # history_stream.NAME, as /readyz names it


def _env(backends: Any) -> dict[str, str]:
    return {
        **backends.env,
        "TICKCAST_MODEL_URI": f"builtin:{LIVE}",
        "TICKCAST_SHADOW_MODEL_URI": f"builtin:{SHADOW}",
        "TICKCAST_MODEL_REFRESH_S": "3600",
        "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true",
    }


@contextlib.contextmanager
def own_database() -> Iterator[firestore.Client]:
    """A project of its own on the shared emulator: an empty database."""
    db = firestore.Client(project=f"tickcast-hs-{uuid.uuid4().hex[:8]}")
    try:
        yield db
    finally:
        db.close()  # type: ignore[no-untyped-call]


def features(symbol: str, seq: int) -> FeaturesMessage:
    close = 10.0 + 0.1 * (seq // 1000 % 3)
    return FeaturesMessage(
        symbol=symbol,
        interval_s=1,
        seq=seq,
        bar=Bar(t=seq - 1000, o=close, h=close, l=close, c=close, v=10, vwap=close, n=1),
        features={"close": close},
        ready=True,
        reason=None,
        trace={"event": time.time_ns()},
    )


def prediction(model_id: str, seq: int) -> Prediction:
    p_up = 0.5 + (seq // 1000 % 5) / 20
    return Prediction(
        model_id=model_id,
        model_version="1",
        horizon_bars=1,
        p_up=p_up,
        direction="up" if p_up > 0.5 else "flat",
        confidence=max(p_up, 1 - p_up),
        expected_return=0.0,
    )


def commit(db: firestore.Client, symbol: str, seq: int, *, latest: bool) -> None:
    """One bar as predict commits it: history always, with the previous bar's score,
    and the latest document only when `latest` (the coalescing decision)."""
    hist = document.history(
        features(symbol, seq),
        prediction(LIVE, seq),
        prediction(SHADOW, seq),
        predict_ns=time.time_ns(),
        retention_days=7,
    )
    sym = db.collection(store.SYMBOLS).document(symbol)
    preds = sym.collection(store.PREDICTIONS)
    batch = db.batch()
    batch.set(preds.document(document.history_id(seq)), hist)
    prev = preds.document(document.history_id(seq - 1000))
    if prev.get().exists:  # scoring touches the previous bar: a change the stream sees
        batch.update(prev, {"score": {"prediction": {"hit": True}}, "outcome": {"up": True}})
    if latest:
        batch.set(sym, document.latest(hist))
    batch.commit()


def wait(cond: Any, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def ready(client: TestClient) -> bool:
    return bool(client.get("/readyz").status_code == 200)


def until_pong(ws: Any) -> list[tuple[dict[str, Any], str]]:
    """Every frame queued before a ping's answer: (message, raw text)."""
    ws.send_json({"type": "ping", "id": "p"})
    out: list[tuple[dict[str, Any], str]] = []
    while True:
        text = ws.receive_text()
        msg = json.loads(text)
        if msg["type"] == "pong":
            return out
        out.append((msg, text))


def latest_seq(db: firestore.Client, symbol: str) -> int:
    snap = db.document(f"{store.SYMBOLS}/{symbol}").get()
    return int(snap.get("seq"))


def test_a_burst_reaches_every_client_in_order_once_while_the_latest_is_coalesced(
    backends: Any, symbol: str
) -> None:
    env = _env(backends)
    now_ms = time.time_ns() // 1_000_000
    t0 = now_ms - now_ms % 1000 - 15_000  # recent bars: inside the stream's range
    seq = [t0 + 1000 * k for k in range(12)]
    with own_database() as db:
        commit(db, symbol, seq[1], latest=True)
        cfg = Settings.from_env(env)
        apps = [create_app(cfg, db), create_app(cfg, db)]  # two bridge instances
        with TestClient(apps[0]) as c0, TestClient(apps[1]) as c1:
            clients = (c0, c1)
            for c in clients:
                wait(lambda c=c: ready(c), "a bridge never became ready")
            with c0.websocket_connect("/ws") as w0, c1.websocket_connect("/ws") as w1:
                sockets = (w0, w1)
                frames: list[list[tuple[dict[str, Any], str]]] = [[], []]
                for ws in sockets:
                    ws.receive_json()  # welcome
                    ws.send_json({"type": "subscribe", "channel": "predictions", "symbol": symbol})
                    assert ws.receive_json()["type"] == "subscribed"
                # Bars 2..9 committed within the same second as bar 1's latest write:
                # each goes to history, none to symbols/{SYM} (owed, coalesced).
                for k in range(2, 10):
                    commit(db, symbol, seq[k], latest=False)
                assert latest_seq(db, symbol) == seq[1], "the latest write was not coalesced"
                for app in apps:
                    wait(
                        lambda app=app: app.state.hub.latest.get(symbol, {}).get("seq") == seq[9],
                        "a bridge never published bar 9 while symbols/{SYM} held bar 1",
                    )
                for i, ws in enumerate(sockets):
                    frames[i] += until_pong(ws)
                # Two seconds on: the next bar writes the latest document (bar 10), which
                # the history stream has delivered already or is about to: sent once.
                commit(db, symbol, seq[10], latest=True)
                assert latest_seq(db, symbol) == seq[10]
                for app in apps:
                    wait(
                        lambda app=app: app.state.hub.latest[symbol]["seq"] == seq[10],
                        "bar 10 never published",
                    )
                time.sleep(0.5)  # both listeners have delivered bar 10 by now
                for i, ws in enumerate(sockets):
                    frames[i] += until_pong(ws)

    for got in frames:
        live = [m for m, _ in got if m["type"] in ("prediction", "snapshot")]
        seqs = [m["seq"] for m in live]
        # The snapshot is bar 1; then each bar once, in order, none of them held back.
        assert seqs == seq[1:11], seqs
        assert live[0]["type"] == "snapshot"
        for m, text in got:
            if m["type"] in ("prediction", "snapshot"):
                assert set(m["data"]) == CLIENT_FIELDS, sorted(m["data"])
                assert not set(HISTORY_ONLY) & set(m["data"])
                assert SHADOW not in text, "the shadow model's prediction reached a client"
                assert m["data"]["trace"]["bridge"] >= m["data"]["trace"]["event"]


def test_a_cold_start_reads_only_recent_history_and_replays_nothing_old(
    backends: Any, symbol: str
) -> None:
    env = _env(backends)
    now_ms = time.time_ns() // 1_000_000
    base = now_ms - now_ms % 1000
    old = [base - 3_600_000 + 1000 * k for k in range(30)]  # an hour ago
    recent = [base - 5000 + 1000 * k for k in range(3)]
    with own_database() as db:
        for s in old + recent:
            doc = {
                "symbol": symbol,
                "interval_s": 1,
                "seq": s,
                "bar": {"t": s - 1000, "c": 1.0},
                "features": {},
                "ready": False,
                "reason": "warming up",
                "prediction": None,
                "updated_at": s,
                "trace": {"event": s * 1_000_000},
                "shadow": {"model_id": SHADOW},
            }
            store.write(db, symbol, s, doc)
        # A recent document in another `predictions` collection: not the history of a
        # symbol, so not streamed (the collection group spans every one of that name).
        db.document(f"elsewhere/{symbol}/predictions/x").set({"symbol": symbol, "seq": base})
        app = create_app(Settings.from_env(env), db)
        with TestClient(app) as client:
            wait(lambda: ready(client), "the bridge never became ready")
            listeners = {x["collection"]: x for x in client.get("/readyz").json()["listeners"]}
            stream = listeners.get(STREAM)
            assert stream is not None, "no history stream"
            # The first snapshot holds the recent range only, not the hour before it.
            assert stream["changes"] == len(recent), stream
            with client.websocket_connect("/ws") as ws:
                ws.receive_json()
                ws.send_json({"type": "subscribe", "channel": "predictions", "symbol": symbol})
                assert ws.receive_json()["type"] == "subscribed"
                got = until_pong(ws)
            assert [(m["type"], m["seq"]) for m, _ in got] == [("snapshot", recent[-1])]
            assert not set(HISTORY_ONLY) & set(got[0][0]["data"])
            assert app.state.hub.filled == 0, "a cold start read history to fill holes"
