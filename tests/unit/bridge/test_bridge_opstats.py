"""/health and the sliding-window figures of /stats (issue 18), against known inputs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tickcast import __version__
from tickcast.bench.sample import prediction_doc
from tickcast.bridge.app import create_app
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.opstats import StatsWindow, hop_ms, live_model_id, percentile
from tickcast.config import Settings

MS = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_hops_follow_the_trace_order_and_skip_missing_stamps() -> None:
    trace = {"event": 0, "published": 2 * MS, "ingest": 5 * MS, "features": 9 * MS}
    assert hop_ms({**trace, "predict": 14 * MS, "bridge": 20 * MS}) == {
        "ingest": 3.0,
        "features": 4.0,
        "predict": 5.0,
        "bridge": 6.0,
    }
    # no `published`: ingest counts from the event; no `features`: predict from ingest
    assert hop_ms({"event": 0, "ingest": 5 * MS, "predict": 8 * MS}, bridge_ns=10 * MS) == {
        "ingest": 5.0,
        "predict": 3.0,
        "bridge": 2.0,
    }


def _update(i: int) -> dict[str, Any]:
    """End to end i ms: ingest 1 ms, features 2, predict 3, bridge the rest (i - 6)."""
    trace = {"event": 0, "ingest": 1 * MS, "features": 3 * MS, "predict": 6 * MS, "bridge": i * MS}
    doc: dict[str, Any] = {"symbol": "AAPL", "seq": i, "trace": trace}
    doc["prediction"] = {"model_id": "m"} if i % 2 == 0 else None
    return doc


def test_every_window_figure_against_known_input() -> None:
    clock = Clock()
    w = StatsWindow(window_s=60.0, clock=clock)
    clock.t = 10.0  # 10 s since start: rates divide by 10, not by the 60 s window
    for i in range(1, 101):
        w.observe_update(_update(i))
    w.observe_sent({"c1": 5})
    w.observe_sent({"c1": 12, "c2": 3})  # 7 more on c1, 3 on a new c2
    for hit in (True, True, True, False):
        w.observe_request(hit)

    s = w.snapshot()
    assert s["window_s"] == 60.0
    assert s["updates_per_second"] == 10.0  # 100 updates / 10 s
    assert s["predictions_per_second"] == 5.0  # the 50 with a prediction
    assert s["messages_per_second"] == 1.5  # 5 + 7 + 3 frames / 10 s
    assert s["average_latency_ms"] == 50.5  # mean of 1..100
    assert s["p99_latency_ms"] == 99.0
    assert s["p50_latency_ms"] == 50.0
    assert s["latency_samples"] == 100
    assert s["hops_ms"] == {
        "ingest": {"p50": 1.0, "p99": 1.0},
        "features": {"p50": 2.0, "p99": 2.0},
        "predict": {"p50": 3.0, "p99": 3.0},
        "bridge": {"p50": 44.0, "p99": 93.0},
    }
    assert s["prediction_requests"] == 4 and s["cache_hit_rate"] == 0.75

    clock.t = 100.0  # beyond the window: everything above slid out
    w.observe_update(_update(20))
    s = w.snapshot()
    assert s["updates_per_second"] == round(1 / 60, 3)  # divides by the whole window now
    assert s["average_latency_ms"] == s["p99_latency_ms"] == 20.0
    assert s["messages_per_second"] == 0.0
    assert s["cache_hit_rate"] is None and s["prediction_requests"] == 0
    w.trim()
    assert len(w._updates) == 1


def test_the_live_model_is_the_one_the_newest_prediction_names() -> None:
    latest: dict[str, dict[str, Any]] = {
        "AAPL": {"seq": 5, "prediction": {"model_id": "old"}},
        "MSFT": {"seq": 9, "prediction": {"model_id": "logreg"}},
        "IBM": {"seq": 12, "prediction": None},
    }
    assert live_model_id(latest) == "logreg"
    assert live_model_id({}) is None


# -- through the app --------------------------------------------------------------


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "TICKCAST_WS_ALLOW_UNAUTHENTICATED": "true",
            "TICKCAST_WS_WATCHDOG_INTERVAL_S": "3600",  # a killed watch stays dead
            **env,
        }
    )


@pytest.fixture
def source() -> Iterator[MemorySource]:
    s = MemorySource()
    s.put("symbols", "AAPL", prediction_doc("AAPL", 1000))
    s.put("symbols", "MSFT", prediction_doc("MSFT", 1000))
    s.put(
        "models",
        "baseline",
        {
            "model_id": "baseline",
            "model_version": "1",
            "role": "live",
            "scores": {"count": 4, "hits": 3, "brier_sum": 0.8, "log_loss_sum": 2.0},
        },
    )
    yield s
    s.close()


def until(client: TestClient, path: str, ok: Any, timeout_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(path).json()
        if ok(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def test_health_is_healthy_then_degraded_with_reasons_always_200(source: MemorySource) -> None:
    with TestClient(create_app(settings(), source=source)) as client:
        until(client, "/readyz", lambda b: b["ready"])
        r = client.get("/health")
        body = r.json()
        assert r.status_code == 200
        assert (body["status"], body["service"], body["version"]) == (
            "healthy",
            "tickcast-ws-bridge",
            __version__,
        )
        assert body["uptime_s"] >= 0 and "reasons" not in body

        next(w for w in source.watches if w.collection == "symbols").kill()
        r = client.get("/health")
        assert r.status_code == 200 and r.json()["status"] == "degraded"
        assert any("listener symbols" in why for why in r.json()["reasons"])
        assert client.get("/healthz").json() == {"status": "ok"}  # liveness: unchanged

        client.app.state.bridge.drainer.draining = True  # type: ignore[attr-defined]
        r = client.get("/health")
        assert r.status_code == 200 and any("draining" in w for w in r.json()["reasons"])
        assert client.get("/readyz").status_code == 503


def test_stats_counts_published_updates_requests_and_the_live_model(
    source: MemorySource,
) -> None:
    with TestClient(create_app(settings(), source=source)) as client:
        until(client, "/readyz", lambda b: b["ready"])
        stats = until(client, "/stats", lambda b: b["latency_samples"] == 2)
        assert stats["window_s"] == 60.0 and stats["predictions_per_second"] > 0
        assert stats["average_latency_ms"] >= 0 and stats["p99_latency_ms"] >= 0
        # sample docs carry only `event`: the one hop is event -> bridge, the others are empty
        assert stats["hops_ms"]["ingest"] == {"p50": None, "p99": None}
        assert stats["hops_ms"]["bridge"]["p99"] == stats["p99_latency_ms"]
        source.put("symbols", "AAPL", prediction_doc("AAPL", 1000))  # a redelivery
        with client.websocket_connect("/ws") as ws:
            ws.receive_json()
            ws.send_json({"type": "request_prediction", "symbol": "AAPL"})
            assert ws.receive_json()["type"] == "prediction_response"
            ws.send_json({"type": "request_prediction", "symbol": "ZZZZ"})
            assert ws.receive_json()["code"] == "not_found"
            stats = client.get("/stats").json()
            assert stats["active_connections"] == 1
            assert (stats["prediction_requests"], stats["cache_hit_rate"]) == (2, 0.5)
        assert stats["latency_samples"] == 2  # the redelivery was not published, not counted
        live = until(client, "/stats", lambda b: b["live_model"]["hit_rate"] is not None)
        assert live["live_model"]["model_id"] == "baseline"
        assert live["live_model"]["hit_rate"] == 0.75
        assert live["live_model"]["brier"] == pytest.approx(0.2)
        assert live["live_model"]["scored"] == 4


def test_metrics_expose_latency_per_hop_and_the_live_models_scores(source: MemorySource) -> None:
    """What Grafana reads (infra/grafana/tickcast-bridge.json): the same figures as
    /stats, as Prometheus series."""
    with TestClient(create_app(settings(), source=source)) as client:
        until(client, "/stats", lambda b: b["live_model"]["hit_rate"] is not None)
        text = client.get("/metrics").text
    # Two published updates, both with a prediction; their trace has `event` only,
    # so the one hop is event -> bridge, and e2e equals it.
    assert 'tickcast_bridge_published_total{prediction="true"} 2.0' in text
    assert 'tickcast_bridge_latency_seconds_count{hop="bridge"} 2.0' in text
    assert 'tickcast_bridge_latency_seconds_count{hop="e2e"} 2.0' in text
    assert 'hop="ingest"' not in text
    assert 'tickcast_model_hit_rate{model_id="baseline"} 0.75' in text
    assert 'tickcast_model_brier{model_id="baseline"} 0.2' in text
