"""`python -m tickcast.bench.feed` runs one connector against the fake Alpaca and
reports frames/s for the in-memory publisher; without the emulator it never
publishes anywhere else."""

from __future__ import annotations

import json

import pytest

from tickcast.bench import feed


def test_the_feed_benchmark_reports_the_in_memory_reference(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    assert feed.main(["--frames", "300", "--symbols", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["memory"]["frames"] == 300 and out["memory"]["frames_per_s"] > 0
    assert "pubsub" not in out
