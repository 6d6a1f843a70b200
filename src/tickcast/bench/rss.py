"""Resident memory of process groups, sampled from /proc (Linux).

Every local service runs in its own session (`Proc` starts it with
start_new_session), so a service's memory is the sum over its process group:
the gcloud wrapper and its JVM, functions-framework and any workers.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass, field


def group_rss_kib(pgid: int) -> int:
    """Sum of VmRSS (KiB) over the processes whose process group is `pgid`; 0 if none."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                # The command may hold spaces and parentheses: fields start after the last ')'.
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields[2] is pgrp
                continue
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return total


@dataclass
class Sampler:
    """Samples each watched group's RSS every `interval_s` on a background thread."""

    interval_s: float = 5.0
    groups: dict[str, int] = field(default_factory=dict)  # name -> pgid
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # (monotonic, KiB)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, groups: dict[str, int]) -> None:
        self.groups.update(groups)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            for name, pgid in list(self.groups.items()):
                kib = group_rss_kib(pgid)
                if kib:
                    self.samples.setdefault(name, []).append((now, kib))
            if self._stop.wait(self.interval_s):
                return


@dataclass(frozen=True)
class Growth:
    name: str
    start_mib: float  # median over the first minute after warm-up
    end_mib: float  # median over the last minute
    peak_mib: float
    samples: int

    @property
    def growth_mib(self) -> float:
        return self.end_mib - self.start_mib


def growth(
    samples: list[tuple[float, int]], name: str, t0: float, t1: float, window_s: float = 60.0
) -> Growth | None:
    """RSS growth within [t0, t1]: medians of the first and last `window_s` (at most a
    third of the span each), so one garbage-collection spike does not decide it."""
    inside = [(t, k / 1024) for t, k in samples if t0 <= t <= t1]
    if len(inside) < 2:
        return None
    window_s = min(window_s, (t1 - t0) / 3)  # a short run compares its first and last thirds
    first = [m for t, m in inside if t <= t0 + window_s] or [inside[0][1]]
    last = [m for t, m in inside if t >= t1 - window_s] or [inside[-1][1]]
    return Growth(
        name,
        statistics.median(first),
        statistics.median(last),
        max(m for _, m in inside),
        len(inside),
    )
