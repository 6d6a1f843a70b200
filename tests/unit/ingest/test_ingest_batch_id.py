"""A batch id never changes between versions: a redelivery handled by an instance of the
next release must name the batch as the instance that first published it did, or
features would count it twice (ingest/stage.py `batch_id`)."""

from __future__ import annotations

import hashlib

from tickcast.ingest.stage import batch_id
from tickcast.schema import Tick


def _one_update_per_id(message_id: str, symbol: str, ticks: list[Tick]) -> str:
    """The layout every earlier release computed."""
    h = hashlib.blake2b(digest_size=12)
    h.update(message_id.encode())
    h.update(symbol.encode())
    for t in ticks:
        h.update(t.id.encode())
    return h.hexdigest()


def test_the_batch_id_is_the_digest_every_release_computed() -> None:
    ticks = [Tick(ts=i + 1, price=1.5, id=f"alpaca:t:AAPL:V:{i}@{i}é") for i in range(300)]
    for n in (1, 2, 300):
        assert batch_id("1234", "AAPL", ticks[:n]) == _one_update_per_id("1234", "AAPL", ticks[:n])
    assert batch_id("1234", "AAPL", ticks[:2]) != batch_id("1234", "MSFT", ticks[:2])
    pair = [Tick(ts=1, price=1.5, id="a"), Tick(ts=2, price=1.5, id="b")]
    assert batch_id("1234", "AAPL", pair) == "56e9aecf41b930d39145fd7e"  # pinned
