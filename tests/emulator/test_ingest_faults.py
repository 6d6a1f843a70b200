"""Ingest under a Redis outage, on the real emulators: redis-server is killed
mid-stream and restarted (without persistence, as Memorystore failover can
lose recent writes). The push subscription redelivers what failed with a 5xx.
Nothing is lost, and nothing is counted twice downstream: a tick that reached
tickcast-ticks twice did so in the same deterministic batch, which features drops."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from tickcast.config import Settings
from tickcast.local.processes import Proc, free_port, http_status, redis_ping
from tickcast.local.stack import redis_command
from tickcast.local.topology import create_topology
from tickcast.pubsub import publish
from tickcast.replay import rfc3339_ns
from tickcast.schema import TicksMessage

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.emulator

MESSAGES = 60
SYMBOLS = ("FLTA", "FLTB", "FLTC")


def test_redis_killed_and_restarted_mid_stream_loses_and_doubles_nothing(
    backends, puller, drop_push_subscriptions, tmp_path: Path
) -> None:
    project = "tickcast-faults"
    redis_port, ingest_port = free_port(), free_port()
    env = {
        **backends.env,
        "GOOGLE_CLOUD_PROJECT": project,
        "TICKCAST_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    redis = Proc("redis", redis_command(redis_port), tmp_path / "redis.log")
    redis.start()
    redis.wait_ready(lambda: redis_ping(redis_port), 30)
    ingest = Proc(
        "ingest",
        [
            str(Path(sys.executable).parent / "functions-framework"),
            "--target=ingest",
            f"--source={ROOT / 'functions/ingest/main.py'}",
            "--signature-type=cloudevent",
            "--host=127.0.0.1",
            f"--port={ingest_port}",
        ],
        tmp_path / "ingest.log",
        env=env,
    )
    saved = dict(os.environ)
    try:
        ingest.start()
        ingest.wait_ready(lambda: http_status(f"http://127.0.0.1:{ingest_port}/") is not None, 60)
        endpoints = {
            n: f"http://127.0.0.1:{ingest_port}/" for n in ("ingest", "features", "predict")
        }
        create_topology(env, project, endpoints)
        drop_push_subscriptions(
            project, keep=f"projects/{project}/subscriptions/tickcast-raw-ingest"
        )
        ticks = puller("tickcast-ticks", project)
        s = Settings.from_env(env)
        now = time.time_ns()
        expected: set[int] = set()
        for i in range(MESSAGES):
            trades = []
            for j, sym in enumerate(SYMBOLS):
                vid = i * 10 + j
                expected.add(vid)
                trades.append(
                    {
                        "T": "t",
                        "S": sym,
                        "i": vid,
                        "x": "V",
                        "p": 100 + i,
                        "s": 1 + j,
                        "t": rfc3339_ns(now + i * 1000),
                        "z": "C",
                    }
                )
            publish(s, "raw", [(orjson.dumps(trades), "", {"format": "alpaca"})])
            if i == MESSAGES // 3:
                os.killpg(redis.pid or 0, signal.SIGKILL)  # mid-stream, no clean shutdown
                redis.popen.wait() if redis.popen else None
            if i == MESSAGES // 2:
                redis.start()  # same port, empty: the dedupe keys are gone
                redis.wait_ready(lambda: redis_ping(redis_port), 30)
            time.sleep(0.05)

        seen: dict[int, set[str]] = defaultdict(set)  # vendor trade id -> batch ids that carried it
        deadline = time.monotonic() + 120
        while set(seen) != expected and time.monotonic() < deadline:
            for m in ticks.pull(1, timeout_s=2):
                batch = TicksMessage.model_validate_json(m.data)
                for t in batch.ticks:
                    seen[int(t.id.split(":")[-1].split("@")[0])].add(batch.batch)
        missing = expected - set(seen)
        assert not missing, f"lost {len(missing)} ticks: {sorted(missing)[:10]}"
        doubled = {k: v for k, v in seen.items() if len(v) > 1}
        assert not doubled, f"ticks in two different batches (would count twice): {doubled}"
        log = (tmp_path / "ingest.log").read_text()
        assert "Error" in log or "ConnectionError" in log, (
            "the outage never reached ingest: the test proved nothing"
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        ingest.stop()
        redis.stop()
