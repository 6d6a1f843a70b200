"""One client's bounded, conflating send queue. Pure: no I/O, an injectable clock.

Frames leave in the order they were queued. Below `soft_limit` pending frames
nothing is dropped, so a client that keeps up sees every update even in bursts.
At or above it the client has fallen behind: a live update replaces the newest
pending update of the same (channel, symbol) in place (conflation), so memory
stays bounded by the number of subscriptions while the client still gets the
newest state. Ordered frames (replies, replays, alerts) are never conflated.

`behind` counts every frame produced for the client and not yet handed to the
socket, conflated ones included: it keeps growing for a stuck client even though
the queue does not, and `overdue()` turns that (or age) into a disconnect.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, str]  # (channel, symbol)


@dataclass(slots=True)
class Entry:
    text: str
    key: Key | None  # None: an ordered frame, never conflated
    seq: int
    queued_at: float  # when the oldest update this entry stands for was queued
    stands_for: int = 1  # 1 + the updates it superseded


class Outbox:
    # One per connection and empty almost always: slots, and the queue (a deque is
    # ~760 bytes even when empty) exists only while frames wait.
    __slots__ = (
        "_clock",
        "_newest",
        "_pending",
        "behind",
        "conflated",
        "in_flight_since",
        "max_lag_frames",
        "max_lag_s",
        "soft_limit",
    )

    def __init__(
        self,
        soft_limit: int,
        max_lag_frames: int,
        max_lag_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.soft_limit = soft_limit
        self.max_lag_frames = max_lag_frames
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._pending: deque[Entry] | None = None
        self._newest: dict[Key, Entry] = {}  # newest pending update per key
        self.behind = 0
        self.conflated = 0
        self.in_flight_since: float | None = None  # a frame is being written to the socket

    def __len__(self) -> int:
        return 0 if self._pending is None else len(self._pending)

    def _queue(self) -> deque[Entry]:
        if self._pending is None:
            self._pending = deque()
        return self._pending

    def put(self, text: str) -> None:
        """An ordered frame (reply, error, replay, alert, heartbeat)."""
        self._queue().append(Entry(text, None, 0, self._clock()))
        self.behind += 1

    def put_update(self, key: Key, seq: int, text: str) -> None:
        """A live update: conflated with the newest pending one for `key` once behind."""
        self.behind += 1
        newest = self._newest.get(key)
        if newest is not None and len(self) >= self.soft_limit:
            newest.text, newest.seq = text, seq
            newest.stands_for += 1
            self.conflated += 1
            return
        entry = Entry(text, key, seq, self._clock())
        self._queue().append(entry)
        self._newest[key] = entry

    def peek(self) -> Entry | None:
        """The next frame to write, left in place."""
        return self._pending[0] if self._pending else None

    def pop(self) -> Entry | None:
        """The next frame to write; the caller reports the write with `sent()`."""
        if not self._pending:
            return None
        entry = self._pending.popleft()
        if not self._pending:
            self._pending = None
        if entry.key is not None and self._newest.get(entry.key) is entry:
            del self._newest[entry.key]
        self.in_flight_since = entry.queued_at
        return entry

    def sent(self, entry: Entry) -> None:
        self.behind -= entry.stands_for
        self.in_flight_since = None

    def clear(self) -> None:
        self._pending = None
        self._newest.clear()
        self.behind = 0

    def lag_s(self) -> float:
        """Age of the oldest frame not yet written (the one in flight included)."""
        oldest = [t for t in (self.in_flight_since,) if t is not None]
        if self._pending:
            oldest.append(self._pending[0].queued_at)
        return self._clock() - min(oldest) if oldest else 0.0

    def overdue(self) -> str | None:
        """Why this client must be disconnected, or None while it keeps up well enough."""
        if self.behind > self.max_lag_frames:
            return f"{self.behind} frames behind (limit {self.max_lag_frames})"
        lag = self.lag_s()
        if lag > self.max_lag_s:
            return f"{lag:.1f} s behind (limit {self.max_lag_s:g} s)"
        return None
