"""Listeners hand batches to the loop safely and survive a bad callback; the
watchdog restarts a dead or silent one and leaves healthy ones alone."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.watchdog import Watchdog


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def settle(cond: Any) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


def test_batches_arrive_on_the_loop_thread_and_a_failing_handler_is_contained() -> None:
    source = MemorySource()
    seen: list[tuple[str, bool]] = []

    def on_batch(batch: list[tuple[str, dict[str, Any]]]) -> None:
        for doc_id, _doc in batch:
            seen.append((doc_id, threading.current_thread() is threading.main_thread()))
            if doc_id == "boom":
                raise ValueError("handler bug")

    async def scenario() -> CollectionListener:
        lst = CollectionListener(source, "symbols", on_batch, asyncio.get_running_loop())
        lst.start()
        await settle(lambda: lst.synced)
        for doc_id in ("A", "boom", "B"):
            source.put("symbols", doc_id, {"symbol": doc_id, "seq": 1})
        await settle(lambda: len(seen) == 3)
        return lst

    lst = asyncio.run(scenario())
    source.close()
    assert seen == [("A", True), ("boom", True), ("B", True)]
    assert lst.errors == 1 and lst.active and "handler bug" in str(lst.last_error)


def test_the_watchdog_restarts_a_dead_watch_and_a_silent_one_only() -> None:
    source = MemorySource()
    clock = Clock()

    async def scenario() -> tuple[list[str], list[str], list[str], CollectionListener]:
        loop = asyncio.get_running_loop()
        symbols = CollectionListener(
            source, "symbols", lambda b: None, loop, restart_when_silent=True, clock=clock
        )
        keys = CollectionListener(source, "api_keys", lambda b: None, loop, clock=clock)
        for lst in (symbols, keys):
            lst.start()
        dog = Watchdog([symbols, keys], interval_s=3600, silence_s=60)
        await settle(lambda: symbols.synced and keys.synced)
        healthy = await dog.check()
        keys.watch.kill()  # type: ignore[union-attr]  # the consumer thread died silently
        assert not keys.healthy
        dead = await dog.check()
        await settle(lambda: keys.synced)
        clock.t += 61  # nothing changed for a minute: symbols may have a half-open stream
        silent = await dog.check()
        return healthy, dead, silent, keys

    healthy, dead, silent, keys = asyncio.run(scenario())
    source.close()
    assert healthy == [] and dead == ["api_keys"] and silent == ["symbols"]
    assert keys.restarts == 1 and keys.healthy and source.listens == 4
