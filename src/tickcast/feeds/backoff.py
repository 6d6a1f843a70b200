"""Exponential backoff with full jitter.

Each wait is uniform in [0, min(cap, base * 2**attempt)]: reconnecting clients
spread out instead of arriving together after a vendor outage
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
A floor applies when the vendor asked for patience (its connection limit).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float
    cap_s: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self) -> float:
        # min() before the power would overflow after ~1000 attempts.
        return min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 60))

    def next(self, floor_s: float = 0.0) -> float:
        delay = self.rng.uniform(0.0, self.ceiling())
        self.attempt += 1
        return max(floor_s, delay)

    def reset(self) -> None:
        self.attempt = 0
