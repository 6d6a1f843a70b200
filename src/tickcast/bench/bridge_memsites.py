"""Where a bridge connection's memory goes: tracemalloc, grouped by site.

The benchmark's server starts tracing only once it is idle (`start`), so a
snapshot taken after N connections opened holds just what they allocated and
is still alive: no whole-heap comparison, which at a few frames per trace
takes minutes. `sites` groups the traces by their innermost frame and names the
code that asked for it (the innermost frame outside the standard library), so
`asyncio/locks.py:168` reads as "an Event made by tickcast/bridge/hub.py:62".
"""

from __future__ import annotations

import sysconfig
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass

FRAMES = 10
_STDLIB = sysconfig.get_paths()["stdlib"]


@dataclass(frozen=True, slots=True)
class Site:
    where: str  # innermost frame: file:line
    caller: str  # innermost frame outside the standard library
    bytes_per_conn: float
    blocks_per_conn: float


def _short(filename: str) -> str:
    for marker in ("site-packages/", "src/", "python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _owner(frame: tracemalloc.Frame) -> str:
    """The package that asked for the memory; tickcast's own by module."""
    if frame.filename.startswith(_STDLIB):
        return "stdlib"
    path = _short(frame.filename)
    return path if path.startswith("tickcast/") else path.split("/", 1)[0]


def start(frames: int = FRAMES) -> None:
    tracemalloc.stop()  # forget anything traced before the server was idle
    tracemalloc.start(frames)


def sites(connections: int, top: int = 20) -> tuple[list[Site], dict[str, float]]:
    """The `top` sites by bytes per connection, and bytes per connection by owner
    (the package of the innermost non-stdlib frame: tickcast, uvicorn, starlette...)."""
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    n = max(connections, 1)
    by_site: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    by_owner: dict[str, float] = defaultdict(float)
    for stat in snap.statistics("traceback"):
        frames = list(reversed(stat.traceback))  # tracemalloc lists the oldest call first
        inner = frames[0]
        outside = next((f for f in frames if not f.filename.startswith(_STDLIB)), inner)
        key = (
            f"{_short(inner.filename)}:{inner.lineno}",
            f"{_short(outside.filename)}:{outside.lineno}",
        )
        by_site[key][0] += stat.size
        by_site[key][1] += stat.count
        by_owner[_owner(outside)] += stat.size / n
    ranked = sorted(by_site.items(), key=lambda kv: -kv[1][0])[:top]
    return (
        [Site(w, c, size / n, count / n) for (w, c), (size, count) in ranked],
        dict(sorted(by_owner.items(), key=lambda kv: -kv[1])),
    )


def report(connections: int, found: list[Site], owners: dict[str, float]) -> str:
    total = sum(owners.values())
    lines = [f"tracemalloc: {total / 1024:.1f} KiB per connection still allocated, by owner:"]
    lines += [f"  {owner:<28} {size / 1024:6.2f} KiB" for owner, size in owners.items()]
    lines.append(f"top sites (per connection, {connections} connections):")
    lines += [
        f"  {s.bytes_per_conn:7.0f} B {s.blocks_per_conn:5.1f} blocks  {s.where}"
        + ("" if s.caller == s.where else f"  <- {s.caller}")
        for s in found
    ]
    return "\n".join(lines)
