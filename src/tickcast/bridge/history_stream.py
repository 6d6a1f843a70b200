"""The live path for bars and predictions: a listener on recent history documents.

predict writes `symbols/{SYM}/predictions/{seq}` for every closed bar, in the
commit that decides it, but `symbols/{SYM}` at most once a second per symbol
(Firestore's sustained rate per document): with bars faster than that, a
listener on `symbols/` sees a bar up to a second late, or only through a later
bar's hole fill. So each bridge instance also runs one collection-group
listener on `predictions`, limited to recent bars (`seq` >= now - LOOKBACK_MS,
served by the collection-group index on `seq` in infra/terraform/firestore.tf),
and hands every document to the same `Hub.on_symbol_doc` as the `symbols/`
listener: the hub keeps one mark per symbol, so each seq is published once and
never after a newer one, whichever listener delivers it first; the projection
(`view.client_doc`) strips history's own fields on the way in.

The `symbols/` listener stays: it serves cold start (the latest of every
symbol, however old) and is the fallback for a bar committed more than
LOOKBACK_MS after its end (outside this range), which it delivers, coalesced,
with the hole filled from history as before.

A range listener keeps every document of its range in memory and Firestore
bills a read per document on each (re)start, so the watchdog restarts this one
every MAX_AGE_S to move the range forward (as for alerts); a restart's first
batch re-delivers the range, and the hub drops what it already published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

from tickcast.bridge.listener import CollectionListener
from tickcast.bridge.source import Change, GroupSource, OnBatch, Since, Watch
from tickcast.predict.store import PREDICTIONS, SYMBOLS

NAME = f"{SYMBOLS}/*/{PREDICTIONS}"  # how /readyz and /health name this listener
# How far back the range starts: covers a bar closed late (by the clock, after the
# grace) and committed after predict's retries. Later bars take the symbols/ path.
LOOKBACK_MS = 60_000
# Memory (documents in range) and restart cost (LOOKBACK_MS of documents re-read)
# against each other: at 20 symbols of 1 s bars, ~4,800 documents held at most and
# one extra read per three streamed.
MAX_AGE_S = 180.0

Docs = Callable[[list[Change]], None]


@dataclass(frozen=True)
class _Group:
    """A `Listens` over the history collection group, for CollectionListener."""

    source: GroupSource

    def listen(self, collection: str, on_batch: OnBatch, since: Since | None = None) -> Watch:
        return self.source.listen_group(SYMBOLS, PREDICTIONS, on_batch, since)


def recent(now_ms: int) -> Since:
    return ("seq", now_ms - LOOKBACK_MS)


def ordered(batch: list[Change]) -> list[Change]:
    """Documents (no deletions: TTL) in seq order, so a batch holding several bars of
    one symbol never makes the hub read history for a hole the batch itself fills."""
    docs = [(i, d) for i, d in batch if d is not None and isinstance(d.get("seq"), int)]
    return sorted(docs, key=lambda c: _seq(c[1]))


def first_sight(batch: list[Change], known: Container[str]) -> list[Change]:
    """A (re)started listener's first batch: every bar of the range for a symbol the
    hub already publishes (it drops those it sent; the rest were missed while no watch
    ran), only the newest of a symbol it has never seen (a cold start publishes the
    current bar, not the last minute again, and reads no history for it)."""
    out: dict[str, Change] = {}
    keep: list[Change] = []
    for c in ordered(batch):
        symbol = (c[1] or {}).get("symbol")
        if not isinstance(symbol, str):
            continue
        if symbol in known:
            keep.append(c)
        else:
            out[symbol] = c  # ascending: the last one wins
    return sorted(keep + list(out.values()), key=lambda c: _seq(c[1]))


def listener(
    source: GroupSource,
    on_docs: Docs,
    known: Callable[[], Container[str]],
    loop: asyncio.AbstractEventLoop,
    *,
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> CollectionListener:
    """The history stream of one bridge instance, for the watchdog like the others.

    `on_docs` is the same handler as the symbols/ listener's; `known()` the symbols
    the hub has published (its `latest`)."""
    return CollectionListener(
        _Group(source),
        NAME,
        lambda batch: on_docs(ordered(batch)),
        loop,
        restart_when_silent=True,  # a half-open stream looks like a quiet market
        on_sync=lambda batch: on_docs(first_sight(batch, known())),
        since=lambda: recent(clock_ms()),
        max_age_s=MAX_AGE_S,
    )


def _seq(doc: dict[str, Any] | None) -> int:
    seq = (doc or {}).get("seq")
    return seq if isinstance(seq, int) else -1
