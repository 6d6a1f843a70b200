"""The garbage collector's settings in a function instance, applied at its first message.

Why: a raw message of 12,800 trades makes about 40,000 container objects (vendor
models, ticks, tuples) that all live until the message is done. With CPython's
defaults (a young collection every 700 allocations, a full one whenever the
survivors reach a quarter of the heap) the collector ran dozens of times per
message and its full passes walked the whole process heap (grpc, Firestore,
pydantic schemas: about 90,000 objects) again and again: a third of ingest's
time per tick (`tickcast bench ingest`, docs/PERFORMANCE.md). These objects hold
no reference cycles, so reference counting frees them anyway; the collector
only has to find the rare cycle.

So, once the imports and clients exist (the first message): `gc.freeze()` moves
everything alive into the permanent generation, which no collection walks, and
the young generation's threshold goes from 700 to 50,000 allocations. A cycle
is still collected, at most 50,000 allocations later (a few MB at most).
"""

from __future__ import annotations

import gc
from typing import Final

GEN0_THRESHOLD: Final = 50_000
_applied = False


def apply_once() -> bool:
    """Freeze the heap and raise the young threshold the first time; True if it did now."""
    global _applied
    if _applied:
        return False
    _applied = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    return True
