"""The soak's memory arithmetic: growth compares the first and last windows."""

from __future__ import annotations

import os

from tickcast.bench.rss import group_rss_kib, growth


def test_growth_compares_first_and_last_windows_not_one_spike() -> None:
    mib = 1024
    flat = [(float(t), 100 * mib + (50 * mib if t == 30 else 0)) for t in range(0, 120, 5)]
    g = growth(flat, "p", 0, 120)
    assert g is not None and g.growth_mib == 0 and g.peak_mib == 150
    rising = [(float(t), 100 * mib + t * mib) for t in range(0, 120, 5)]
    g = growth(rising, "p", 0, 120)
    assert g is not None and 70 < g.growth_mib < 90  # ~80 MiB between the thirds' medians
    assert growth(rising, "p", 200, 300) is None  # no samples in the window


def test_group_rss_counts_this_process_group() -> None:
    assert group_rss_kib(os.getpgrp()) > 1000
    assert group_rss_kib(2**22 + 12345) == 0
