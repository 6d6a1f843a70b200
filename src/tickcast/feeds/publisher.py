"""Publish queued frames to tickcast-raw, retrying each until Pub/Sub has it.

The publisher takes up to TICKCAST_FEED_MAX_IN_FLIGHT frames off the queue,
publishes them together (the client batches them) and waits for every
acknowledgement. Frames that failed are retried, in their original order, after a
capped full-jitter backoff, until they are published: nothing received is
dropped for a publish error. While a batch is being retried nothing new is taken,
so the queue fills and the socket reader stops reading (backpressure).

Ordering: after a failure the client pauses the frame's ordering key and fails
every later frame of that key until `resume_publish`, so per key the failed frames
are a suffix of the batch; resuming each key and republishing them in order keeps
the key's order. A publish that failed on our side but reached Pub/Sub is sent
again: at-least-once, and ingest drops repeated tick ids.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tickcast import log
from tickcast.feeds.backoff import Backoff
from tickcast.feeds.metrics import FeedMetrics

_log = log.get("feeds.publisher")


@dataclass(slots=True)
class Frame:
    data: bytes
    key: str
    received: float  # time.monotonic()


class Client(Protocol):
    """The part of google.cloud.pubsub_v1.PublisherClient the connector uses."""

    def publish(
        self, topic: str, data: bytes, ordering_key: str = "", **attrs: Any
    ) -> concurrent.futures.Future[str]: ...

    def resume_publish(self, topic: str, ordering_key: str) -> None: ...


class FramePublisher:
    def __init__(
        self,
        client: Client,
        topic: str,
        attributes: dict[str, str],
        metrics: FeedMetrics,
        *,
        max_in_flight: int,
        backoff_max_s: float,
        backoff_base_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.topic = topic
        self.attributes = attributes
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.backoff = Backoff(backoff_base_s, backoff_max_s)
        self.clock = clock
        self.in_hand = 0  # frames taken off the queue and not yet published
        self.published = 0

    async def run(self, queue: asyncio.Queue[Frame]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_in_flight and not queue.empty():
                batch.append(queue.get_nowait())
            self.in_hand = len(batch)
            await self.publish_all(batch)
            # Done only once published: a cancelled or failed batch stays counted
            # (in_hand) and keeps queue.join() waiting.
            self.in_hand = 0
            for _ in batch:
                queue.task_done()

    def _publish(self, frame: Frame) -> concurrent.futures.Future[str]:
        try:
            return self.client.publish(
                self.topic, frame.data, ordering_key=frame.key, **self.attributes
            )
        except Exception as exc:  # e.g. the client refusing while a key is paused
            failed: concurrent.futures.Future[str] = concurrent.futures.Future()
            failed.set_exception(exc)
            return failed

    def _stamp(
        self, acked: list[float], i: int
    ) -> Callable[[concurrent.futures.Future[str]], None]:
        def stamp(_: concurrent.futures.Future[str]) -> None:
            acked[i] = self.clock()

        return stamp

    async def publish_all(self, batch: list[Frame]) -> None:
        pending = batch
        while pending:
            sent = self.clock()
            acked = [sent] * len(pending)
            futures = []
            for i, frame in enumerate(pending):
                fut = self._publish(frame)
                # Runs on the client's thread as each ack arrives: per-frame latency.
                fut.add_done_callback(self._stamp(acked, i))
                futures.append(asyncio.wrap_future(fut))
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed: list[Frame] = []
            first_error: BaseException | None = None
            for frame, result, done in zip(pending, results, acked, strict=True):
                if isinstance(result, BaseException):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    failed.append(frame)
                    first_error = first_error or result
                else:
                    self.published += 1
                    self.metrics.frames_published.inc()
                    self.metrics.publish_latency.observe(done - sent)
                    self.metrics.frame_delay.observe(done - frame.received)
            self.in_hand = len(failed)
            if not failed:
                self.backoff.reset()
                return
            for key in dict.fromkeys(f.key for f in failed):
                if key:
                    self.client.resume_publish(self.topic, key)
            self.metrics.publish_failures.inc(len(failed))
            delay = self.backoff.next()
            _log.warning(
                "publish failed; retrying",
                extra={
                    "failed": len(failed),
                    "of": len(pending),
                    "error": f"{type(first_error).__name__}: {first_error}"[:300],
                    "retry_in_s": round(delay, 3),
                    "attempt": self.backoff.attempt,
                },
            )
            await asyncio.sleep(delay)
            pending = failed
