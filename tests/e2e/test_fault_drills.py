"""Fault drills on the whole local stack with a live feed (1 s bars):

- the Firestore emulator killed and restarted: predict retries the bars that
  closed meanwhile, and the bridge's listeners recover (watchdog) so a client
  that stayed connected gets updates again;
- the bridge killed and restarted mid-stream: a reconnecting client resumes
  with `since` and gets every bar in between, once, in order.

The stack has its own Firestore emulator (the drill kills it), project and
Redis db, so nothing else in the session is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tickcast import clients
from tickcast.bridge import reconnect
from tickcast.config import Settings
from tickcast.local.processes import Proc, free_port, http_status
from tickcast.local.stack import LocalStack
from tickcast.predict.store import PREDICTIONS, SYMBOLS
from tickcast.pubsub import publish
from tickcast.replay import OHLCV, Series, bar_messages, pace

pytestmark = pytest.mark.e2e
HANG_GUARD_S = 90.0
BACKFILL = 40  # warm: every live bar gets a prediction


@pytest.fixture(scope="module")
def stack(local_stack: Any, stack_ports: Any) -> Iterator[LocalStack]:
    ports = stack_ports(firestore=free_port())  # its own: the drill kills it
    with local_stack("drills", redis_db=2, ports=ports, TICKCAST_WS_WATCHDOG_INTERVAL_S="1") as st:
        yield st


class Feed(threading.Thread):
    """One bar's trades per second for `symbol`, after a warm-up backfill."""

    def __init__(self, s: Settings, symbol: str, bars: int = 400) -> None:
        super().__init__(daemon=True)
        rows = [
            OHLCV(100 + math.sin(i / 5), 101 + math.sin(i / 5), 99, 100, 1000) for i in range(bars)
        ]
        self.messages = bar_messages([Series(symbol, rows)], 1.0, backfill=BACKFILL)
        self.s, self.stopped = s, threading.Event()

    def run(self) -> None:
        pace(
            self.messages,
            lambda b: publish(self.s, "raw", [(b, "", {"format": "alpaca"})]),
            self.stopped.is_set,
        )


def live_feed(stack: LocalStack, symbol: str, monkeypatch: pytest.MonkeyPatch) -> Feed:
    """This process talks to the drill's stack; a feed for `symbol`, not started."""
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    return Feed(Settings.from_env(stack.env()), symbol)


def proc(stack: LocalStack, name: str) -> Proc:
    return next(p for p in stack.procs if p.name == name)


def history_seqs(stack: LocalStack, symbol: str) -> list[int]:
    db = clients.firestore_client(stack.project)
    docs = db.collection(SYMBOLS).document(symbol).collection(PREDICTIONS).stream()
    return sorted(int(d.get("seq")) for d in docs)


def ready(stack: LocalStack) -> bool:
    return http_status(f"http://127.0.0.1:{stack.ports.bridge}/readyz") == 200


class Background:
    """Runs a coroutine on its own event loop thread; `cancel()` ends it at once (a
    following client otherwise waits for its next message to notice `stop`)."""

    def __init__(self, coro: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(coro)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)
        self.loop.close()

    def cancel(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)


def follow(
    stack: LocalStack,
    symbol: str,
    seen: list[dict[str, Any]],
    progress: reconnect.Progress,
    delay_s: float = 0.0,
) -> Any:
    async def run() -> None:
        await asyncio.sleep(delay_s)
        await reconnect.follow(
            stack.env()["TICKCAST_WS_URL"],
            [symbol],
            seen.append,
            progress=progress,
            max_backoff_s=2.0,
        )

    return run()


def wait_for(cond: Any, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not cond():
        assert time.monotonic() < deadline, f"hang guard: {what}"
        time.sleep(0.1)


def test_firestore_restart_predict_retries_and_listeners_recover(
    stack: LocalStack, symbol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = live_feed(stack, symbol, monkeypatch)
    seen: list[dict[str, Any]] = []
    progress = reconnect.Progress()
    follower = Background(follow(stack, symbol, seen, progress))
    feed.start()
    try:
        wait_for(lambda: any(m["data"].get("prediction") for m in seen), "first prediction")
        firestore = proc(stack, "firestore")
        firestore.stop()  # the emulator is gone, and its data with it
        down_from = time.time_ns() // 1_000_000
        time.sleep(4)
        firestore.start()
        firestore.wait_ready(
            lambda: http_status(f"http://127.0.0.1:{stack.ports.firestore}/") == 200, 60
        )
        up_at = time.time_ns() // 1_000_000
        n_before = len(seen)
        # The client that stayed connected gets updates again: the listener recovered.
        wait_for(lambda: len(seen) > n_before + 3, "updates after the restart")
        wait_for(lambda: ready(stack), "bridge ready again")
        # Every bar that closed while Firestore was down was written once it was back.
        outage = list(range(down_from - down_from % 1000 + 2000, up_at, 1000))
        assert len(outage) >= 3
        wait_for(
            lambda: set(outage) <= set(history_seqs(stack, symbol)),
            f"history of the outage bars {outage[0]}..{outage[-1]}",
        )
        hist = history_seqs(stack, symbol)
        assert hist == list(range(hist[0], hist[-1] + 1000, 1000)), "no bar missing after it"
    finally:
        feed.stopped.set()
        follower.cancel()
    assert progress.connects == 1, "the client never had to reconnect"
    seqs = [m["seq"] for m in seen]
    assert seqs == sorted(set(seqs))


def test_bridge_restart_client_resumes_with_since_without_gap(
    stack: LocalStack, symbol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = live_feed(stack, symbol, monkeypatch)
    seen: list[dict[str, Any]] = []
    progress = reconnect.Progress()
    feed.start()
    wait_for(lambda: len(history_seqs(stack, symbol)) > 0, "first prediction written")
    follower = Background(follow(stack, symbol, seen, progress))
    try:
        wait_for(lambda: len(seen) >= 3, "live updates")
        bridge = proc(stack, "bridge")
        bridge.stop()  # SIGTERM: drains, every client gets 1012
        before = len(seen)
        time.sleep(3)  # bars keep closing while the bridge is away
        bridge.start()
        bridge.wait_ready(lambda: ready(stack), 60)
        wait_for(lambda: any(not m.get("replay") for m in seen[before + 1 :]), "live again")
    finally:
        feed.stopped.set()
        follower.cancel()
    assert progress.connects == 2
    seqs = [m["seq"] for m in seen]
    assert seqs == sorted(set(seqs)), "in order, no duplicate"
    resumed = seen[before:]
    assert resumed[0].get("replay"), "the reconnect replays history first"
    first_live = next(m["seq"] for m in resumed if not m.get("replay"))
    hist = history_seqs(stack, symbol)
    gap = [q for q in hist if seen[before - 1]["seq"] < q <= first_live]
    assert [m["seq"] for m in resumed if m["seq"] <= first_live] == gap, "no gap"
    assert len(gap) >= 2, "bars closed while the bridge was away"


STORM = 1000


def test_reconnect_storm_of_1000_clients_after_a_bridge_restart(
    stack: LocalStack, symbol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 reconnecting clients of one symbol; the bridge restarts under them. Every
    client comes back, replays what it missed from history, and goes live again."""
    from tickcast.bench.bridge import raise_open_files

    assert raise_open_files(4 * STORM + 100) >= 4 * STORM + 100
    feed = live_feed(stack, symbol, monkeypatch)
    feed.start()
    wait_for(lambda: len(history_seqs(stack, symbol)) > 0, "first prediction written")
    seen: list[list[dict[str, Any]]] = [[] for _ in range(STORM)]
    progress = [reconnect.Progress() for _ in range(STORM)]

    # Connect at about the rate one bridge accepts (~400/s), as real clients trickle in.
    async def everyone() -> None:
        await asyncio.gather(
            *(follow(stack, symbol, seen[i], progress[i], i / 400) for i in range(STORM))
        )

    t0 = time.monotonic()
    runner = Background(everyone())
    try:
        wait_for(lambda: all(seen), "every client has an update")
        print(f"storm: {STORM} clients connected and updated in {time.monotonic() - t0:.1f} s")
        bridge = proc(stack, "bridge")
        bridge.stop()  # SIGTERM: 1012 to every client
        t_down = time.monotonic()
        time.sleep(2)
        bridge.start()
        bridge.wait_ready(lambda: ready(stack), 60)
        wait_for(lambda: all(p.connects >= 2 for p in progress), "every client reconnected")
        print(f"storm: {STORM} clients reconnected {time.monotonic() - t_down:.1f} s after SIGTERM")
        cut = [len(x) for x in seen]
        wait_for(
            lambda: all(len(x) > c + 1 for x, c in zip(seen, cut, strict=True)),
            "every client live again",
        )
        print(f"storm: every client live again {time.monotonic() - t_down:.1f} s after SIGTERM")
    finally:
        feed.stopped.set()
        runner.cancel()
    hist = set(history_seqs(stack, symbol))
    for x in seen:
        seqs = [m["seq"] for m in x]
        assert seqs == sorted(set(seqs)), "in order, no duplicate"
        replayed = [m["seq"] for m in x if m.get("replay")]
        # What a client replayed after the restart is exactly history after its last seq.
        if replayed:
            last_before = max(q for q in seqs if q < replayed[0])
            assert replayed == sorted(q for q in hist if last_before < q <= replayed[-1])
    assert sum(1 for x in seen if any(m.get("replay") for m in x)) > STORM // 2, (
        "most clients missed bars while the bridge was away and replayed them"
    )
