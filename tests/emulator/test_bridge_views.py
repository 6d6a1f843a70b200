"""No client-facing path shows what history keeps for itself (issue 14, point 2).

Bars go through the real writer (predict's `Predictor` and its store, with a
shadow model, scoring and coalesced latest writes) into the Firestore emulator,
so history documents carry `shadow`, `score`, `outcome` and `expire_at` exactly
as in production. Then every way a client reads a bar is collected: the live
frame, the `since` replay, a hole filled from history, REST latest, REST
history, REST list and the `request_prediction` answer. None may contain a
history-only field or the shadow model's prediction, and a replayed frame looks
like the live frame of the same bar.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from golden import READY
from tickcast.bridge.app import create_app
from tickcast.config import Settings
from tickcast.predict.document import HISTORY_ONLY, history_id
from tickcast.predict.stage import Predictor
from tickcast.schema import Bar, FeaturesMessage

pytestmark = pytest.mark.emulator

T0_MS = 1_709_562_600_000
LIVE, SHADOW = "baseline", "logreg-daily"
HANG_GUARD_S = 30.0


class Clock:
    def __init__(self) -> None:
        self.ms = T0_MS

    def ns(self) -> int:
        return self.ms * 1_000_000


def bar(symbol: str, k: int) -> FeaturesMessage:
    seq, close = T0_MS + 1000 * k, 10.0 + 0.1 * (k % 3)
    return FeaturesMessage(
        symbol=symbol,
        interval_s=1,
        seq=seq,
        bar=Bar(t=seq - 1000, o=close, h=close, l=close, c=close, v=10, vwap=close, n=1),
        features={**READY, "close": close},
        ready=True,
        reason=None,
        trace={"event": time.time_ns()},
    )


def seq_of(k: int) -> int:
    return T0_MS + 1000 * k


def assert_clean(where: str, data: dict[str, Any], text: str) -> None:
    leaked = set(HISTORY_ONLY) & set(data)
    assert not leaked, f"{where} carries history-only fields {sorted(leaked)}"
    assert SHADOW not in text, f"{where} carries the shadow model's prediction"


def test_no_client_facing_path_shows_shadow_scores_or_ttl(backends: Any, symbol: str) -> None:
    db = firestore.Client(project=backends.project)
    clock = Clock()
    env = {
        **backends.env,
        "TICKCAST_MODEL_URI": f"builtin:{LIVE}",
        "TICKCAST_SHADOW_MODEL_URI": f"builtin:{SHADOW}",
        "TICKCAST_MODEL_REFRESH_S": "3600",
    }
    predictor = Predictor(Settings.from_env(env), db, now_ns=clock.ns)

    def write(k: int, after_ms: int) -> None:
        clock.ms = max(clock.ms, seq_of(k)) + after_ms
        predictor.on_features(bar(symbol, k))

    for k in (1, 2, 3):  # 2 s apart: each bar also writes the latest document
        write(k, 2000)
    stored = db.document(f"symbols/{symbol}/predictions/{history_id(seq_of(1))}").get().to_dict()
    assert {"shadow", "score", "outcome", "expire_at"} <= set(stored)  # what must not leak
    assert stored["shadow"]["model_id"] == SHADOW

    cfg = Settings.from_env({**env, "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true"})
    app = create_app(cfg, db)
    seen: list[tuple[str, dict[str, Any], str]] = []  # (where, data, raw text)
    with TestClient(app) as client:
        deadline = time.monotonic() + HANG_GUARD_S
        while client.get(f"/v1/symbols/{symbol}").status_code != 200:
            assert time.monotonic() < deadline, "the bridge never served the symbol"
            time.sleep(0.05)
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.send_json({"type": "subscribe", "symbol": symbol, "since": {symbol: seq_of(1)}})
            assert ws.receive_json()["type"] == "subscribed"
            frames: dict[int, dict[str, Any]] = {}

            def take_until(seq: int) -> None:
                while seq not in frames:
                    text = ws.receive_text()
                    msg = json.loads(text)
                    if msg["type"] != "prediction":
                        continue
                    where = "replay" if msg.get("replay") else "live"
                    frames[msg["seq"]] = msg
                    seen.append((f"{where} frame {msg['seq']}", msg["data"], text))

            take_until(seq_of(3))
            assert frames[seq_of(2)].get("replay") is True
            write(4, 2000)  # written to symbols/{SYM}: a live frame
            take_until(seq_of(4))
            # 5 and 6 land within a second of 4: their latest writes are held back
            # (coalesced), so the bridge sees 4 then 6 or 7 and fills the hole from history.
            write(5, 100)
            write(6, 100)
            write(7, 2500)
            take_until(seq_of(7))
            assert app.state.hub.filled >= 1, "no hole was filled from history"
            ws.send_json({"type": "request_prediction", "symbol": symbol})
            while (text := ws.receive_text()) and json.loads(text)["type"] != "prediction_response":
                pass
            seen.append(("request_prediction", json.loads(text), text))
        r = client.get(f"/v1/symbols/{symbol}")
        seen.append(("REST latest", r.json(), r.text))
        r = client.get("/v1/symbols")
        mine = [d for d in r.json() if d["symbol"] == symbol]
        seen.append(("REST list", mine[0], json.dumps(mine)))
        r = client.get(f"/v1/symbols/{symbol}/predictions", params={"after": 0})
        assert [d["seq"] for d in r.json()] == [seq_of(k) for k in range(1, 8)]
        for d in r.json():
            seen.append((f"REST history {d['seq']}", d, json.dumps(d)))

    assert sorted(frames) == [seq_of(k) for k in range(2, 8)]
    for where, data, text in seen:
        assert_clean(where, data, text)
    # A replayed (history) frame and a live frame of a bar have the same shape.
    replay, live = frames[seq_of(2)]["data"], frames[seq_of(4)]["data"]
    assert set(replay) == set(live)
    assert replay["prediction"]["model_id"] == live["prediction"]["model_id"] == LIVE
    db.close()
