"""Unit tests of the bridge never open Pub/Sub: channel `trades` stays off unless a
test's settings turn it on (TICKCAST_WS_TRADES=true, with TicksFeed.start replaced),
even when the session's emulators have put PUBSUB_EMULATOR_HOST in the environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_trades_subscription(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unset TICKCAST_WS_TRADES means "on where Pub/Sub is reachable": make it unreachable.
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("K_SERVICE", raising=False)
