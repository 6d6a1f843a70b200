"""`python -m tickcast.bench.features` at tiny sizes: it runs, counts one Redis round trip
per message for real, and reports a positive figure for every size and library.

No assertion depends on speed: the targets are printed as PASS or MISS, and
which one is the machine's business.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import redis

from tickcast.bench import features

SIZES = (1, 16, 128, 1024)
TINY_STAGE = [
    "--sizes",
    ",".join(map(str, SIZES)),
    "--messages",
    "48",
    "--max-ticks",
    "4096",
    "--symbols",
    "4",
    "--warmup",
    "5",
    "--stage-repeat",
    "1",
]
TINY_KERNEL = ["--points", "5000", "--repeat", "1", "--window", "64"]


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _check_stage(stage: dict[str, Any]) -> None:
    rows = stage["rows"]
    assert [r["size"] for r in rows] == list(SIZES)
    for r in rows:
        # Counted on the client's socket writes: exactly one per timed message.
        assert r["round_trips"] == 1.0, r
        assert r["round_trips_exact"] is True
        for key in (
            "messages",
            "ticks",
            "us_best",
            "us_mean",
            "cpu_us_mean",
            "ticks_s",
            "messages_s",
            "state_bytes",
            "parse_us",
            "contract_parse_us",
            "store_us",
            "bare_us",
        ):
            assert _positive(r[key]), (r["size"], key, r[key])
        assert r["ticks"] == r["size"] * r["messages"]
        assert r["us_best"] <= r["us_mean"] * (1 + 1e-9)
        if r["size"] >= 128:  # 100 ticks per 1 s bar per symbol: bars close in every message
            assert r["features_out"] > 0
    targets = stage["targets"]
    assert targets["round_trips_ok"] is True
    assert isinstance(targets["ticks_s_ok"], bool)
    assert _positive(targets["ticks_s"])


def test_both_parts_with_a_private_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    assert features.main([*TINY_KERNEL, *TINY_STAGE, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())

    kernel = figures["kernel"]
    assert [r["name"] for r in kernel["rows"]] == ["all five", *features.FIVE]
    for r in kernel["rows"]:
        for key in ("tickcast_ns", "talipp_ns", "stream_ns", "reopened_ns", "floor_ns"):
            assert _positive(r[key]), (r["name"], key, r[key])
    assert isinstance(kernel["targets"]["ns_ok"], bool)
    assert isinstance(kernel["targets"]["speedup_ok"], bool)

    stage = figures["stage"]
    _check_stage(stage)
    # The private server saw nothing but this benchmark: one EVALSHA per message there too.
    assert all(r["server_evalsha"] == 1.0 for r in stage["rows"])

    printed = capsys.readouterr().out
    assert figures["meta"]["backend"] in printed
    assert printed.count("target: ") == 4
    assert all(line.endswith(("PASS", "MISS")) for line in _target_lines(printed))
    assert "W=64" in printed


def _target_lines(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith("target: ")]


@pytest.mark.emulator
def test_stage_against_a_given_redis_leaves_no_state(backends: Any, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{backends.redis_port}/9"
    out = tmp_path / "figures.json"
    args = ["--part", "stage", "--redis-url", url, *TINY_STAGE, "--json", str(out)]
    assert features.main(args) == 0
    figures = json.loads(out.read_text())
    assert "kernel" not in figures
    _check_stage(figures["stage"])
    db = redis.Redis.from_url(url)
    try:
        assert list(db.scan_iter("tickcast:state:*")) == []
        assert db.zcard("tickcast:active:1") == 0
    finally:
        db.close()


@pytest.mark.parametrize(
    "argv", [["--sizes", "1,0"], ["--part", "nope"], ["--window", "10"], ["--points", "x"]]
)
def test_a_bad_argument_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        features.main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_round_trips_are_counted_per_socket_write() -> None:
    with features._redis_url(None) as url:
        client = redis.Redis.from_url(url)
        try:
            trips = features.RoundTrips(client)
            client.ping()  # connects: the handshake's requests count too
            trips.count = 0
            client.set("k", "v")
            client.get("k")
            client.register_script("return 1")()  # EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA
            assert trips.count == 5
            with client.pipeline(transaction=False) as pipe:
                for _ in range(5):
                    pipe.incr("n")
                pipe.execute()
            assert trips.count == 6  # one write for the whole pipeline
        finally:
            client.close()
