"""The lazy sender: a subscriber holds a task only while it has frames to write,
and tells its session once when the connection should end (issue #16, memory)."""

from __future__ import annotations

import asyncio

from tickcast.bridge.hub import Subscriber
from tickcast.bridge.outbox import Outbox
from tickcast.bridge.principal import Limits, Principal
from tickcast.bridge.protocol import CLOSE_TOO_MANY, CLOSE_TOO_SLOW

WHO = Principal("p", "p", "local", None, Limits(10, 10, 10))


class Peer:
    def __init__(self, *, stuck: bool = False, broken: bool = False) -> None:
        self.got: list[str] = []
        self.stuck, self.broken = stuck, broken
        self.ends = 0

    async def send(self, text: str) -> None:
        if self.broken:
            raise ConnectionResetError("gone")
        if self.stuck:
            await asyncio.Event().wait()
        self.got.append(text)

    def end(self) -> None:
        self.ends += 1


def started(peer: Peer, soft: int = 64, max_frames: int = 10_000) -> Subscriber:
    s = Subscriber("c1", WHO, peer.send, Outbox(soft, max_frames, 1e9))
    s.start(peer.end)
    return s


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_sender_task_exists_only_while_frames_wait() -> None:
    async def scenario() -> None:
        peer = Peer()
        s = started(peer)
        assert s._sender is None  # idle: no task
        s.send("a")
        s.offer(("predictions", "AAPL"), 1, "b")
        assert s._sender is not None
        await settle()
        assert peer.got == ["a", "b"] and s._sender is None and s.sent == 2
        s.send("c")  # the next frame starts another
        await settle()
        assert peer.got == ["a", "b", "c"] and s._sender is None and peer.ends == 0

    asyncio.run(scenario())


def test_a_flushing_close_ends_the_session_after_the_queued_frames() -> None:
    async def scenario() -> None:
        peer = Peer()
        s = started(peer)
        s.send("bye")
        s.close(CLOSE_TOO_MANY, "rate limit exceeded", flush=True)
        assert peer.ends == 0  # not before "bye" is written
        await settle()
        assert peer.got == ["bye"] and peer.ends == 1 and not s.failed

    asyncio.run(scenario())


def test_a_flushing_close_with_nothing_queued_ends_at_once() -> None:
    async def scenario() -> None:
        peer = Peer()
        s = started(peer)
        s.close(CLOSE_TOO_MANY, "rate limit exceeded", flush=True)
        assert peer.ends == 1 and s._sender is None

    asyncio.run(scenario())


def test_a_stuck_client_over_the_lag_limit_ends_now_and_only_once() -> None:
    async def scenario() -> None:
        peer = Peer(stuck=True)
        s = started(peer, soft=4, max_frames=10)
        for seq in range(1, 30):
            s.offer(("predictions", "AAPL"), seq, f"u{seq}")
        await settle()
        assert s.close_code == CLOSE_TOO_SLOW and s.stopped and peer.ends == 1
        assert len(s.outbox) == 0  # dropped, not flushed
        s.detach()  # the session abandons the write in flight
        await settle()
        assert s._sender is None

    asyncio.run(scenario())


def test_a_failed_write_ends_the_session_as_gone() -> None:
    async def scenario() -> None:
        peer = Peer(broken=True)
        s = started(peer)
        s.send("a")
        await settle()
        assert s.failed and peer.ends == 1 and s._sender is None

    asyncio.run(scenario())


def test_an_empty_outbox_holds_no_queue() -> None:
    box = Outbox(4, 100, 1e9)
    assert box._pending is None and len(box) == 0
    box.put("a")
    box.put_update(("bars", "X"), 1, "b")
    assert len(box) == 2
    while (e := box.pop()) is not None:
        box.sent(e)
    assert box._pending is None and box.behind == 0


class Socket:
    """A transport that takes frames at once until it pushes back (`full`)."""

    def __init__(self) -> None:
        self.full = False
        self.now: list[str] = []

    def write_now(self, text: str) -> bool:
        if self.full:
            return False
        self.now.append(text)
        return True


def test_frames_for_a_client_that_keeps_up_are_written_without_a_task() -> None:
    async def scenario() -> None:
        peer, sock = Peer(), Socket()
        s = Subscriber("c1", WHO, peer.send, Outbox(64, 10_000, 1e9))
        s.start(peer.end, sock.write_now)
        s.send("a")
        s.offer(("predictions", "AAPL"), 1, "b")
        assert sock.now == ["a", "b"] and s._sender is None and s.sent == 2
        assert len(s.outbox) == 0 and s.outbox.behind == 0
        sock.full = True  # pushed back: queued, and a sender task waits on the socket
        s.offer(("predictions", "AAPL"), 2, "c")
        assert s._sender is not None and len(s.outbox) == 1
        await settle()
        assert peer.got == ["c"] and s._sender is None
        sock.full = False
        s.close(CLOSE_TOO_MANY, "bye", flush=True)
        assert peer.ends == 1

    asyncio.run(scenario())


def test_a_pushed_back_client_keeps_its_order_and_is_conflated() -> None:
    async def scenario() -> None:
        peer, sock = Peer(stuck=True), Socket()
        sock.full = True
        s = Subscriber("c1", WHO, peer.send, Outbox(2, 10_000, 1e9))
        s.start(peer.end, sock.write_now)
        for seq in range(1, 10):
            s.offer(("predictions", "AAPL"), seq, f"u{seq}")
        await settle()
        assert sock.now == [] and s.outbox.conflated > 0  # behind: conflated, not lost order
        s.detach()

    asyncio.run(scenario())
