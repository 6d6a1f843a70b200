"""Feature state in a real redis-server: concurrent invocations for one symbol
(separate store instances, as separate function instances would be) give the
same state as sequential processing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from tickcast.config import Settings
from tickcast.features.bars import BarState
from tickcast.features.stage import Record
from tickcast.features.store import ContentionError, StateStore, state_key
from tickcast.schema import Tick

pytestmark = pytest.mark.emulator
T0 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % 3_600_000_000_000


def test_concurrent_updates_equal_sequential(backends, symbol: str) -> None:
    s = Settings.from_env({**backends.env, "TICKCAST_BAR_SECONDS": "3600"})
    batches = [
        [
            Tick(
                ts=T0 + (w * 100 + b) * 1_000_000 + k,
                price=100 + k + b % 5,
                size=1 + k,
                id=f"{w}-{b}-{k}",
            )
            for k in range(3)
        ]
        for w in range(4)
        for b in range(25)
    ]

    def worker(mine: list[list[Tick]]) -> None:
        store = StateStore(
            redis.Redis(port=backends.redis_port), ttl_s=600
        )  # its own instance cache

        for ticks in mine:

            def step(
                raw: dict[str, Any] | None, ticks: list[Tick] = ticks
            ) -> tuple[dict[str, Any], None]:
                rec = Record(s, raw)
                rec.bars.add(ticks)
                return rec.dump(), None

            for _redelivery in range(5):  # what Pub/Sub does after a 5xx
                try:
                    store.update(symbol, s.bar_seconds, step, now_ms=1)
                    break
                except ContentionError:
                    continue

    threads = [threading.Thread(target=worker, args=(batches[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    rev, raw = StateStore(redis.Redis(port=backends.redis_port), 600).load(state_key(symbol, 3600))
    assert rev == len(batches)  # every batch committed exactly once
    got = Record(s, raw).bars
    sequential = BarState(bar_ms=3_600_000, grace_ms=s.bar_grace_ms)
    for ticks in batches:
        sequential.add(ticks)
    assert got.open == sequential.open
