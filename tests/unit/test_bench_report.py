"""`tickcast bench all`'s targets section: every verdict a suite printed, and only those."""

from __future__ import annotations

from tickcast.bench import report


def test_verdict_lines_keep_each_judged_target_and_nothing_else() -> None:
    out = "\n".join(
        [
            "| SMA(20) | 0.41 us | 1.20 us |",
            "  real p50 <= null p50 + 50 ms: 130 vs 90 + 50 ms -> PASS",
            "  ceiling ratio >= 0.8x: 0.62x -> MISS",
            "| real | 40 | MISSING |",  # a word that merely starts with MISS is no verdict
            "soak: FAIL",
            "| null | 21 | 4.2 | 0/4 | - | FAIL |",  # a table row: the suite's own target says it
            "  ceiling ratio >= 0.8x: 0.62x -> MISS",  # repeated in the suite's summary
            "ratio 0.9x: inconclusive (the null ceiling is a lower bound)",
        ]
    )
    assert report.verdict_lines(out) == [
        "real p50 <= null p50 + 50 ms: 130 vs 90 + 50 ms -> PASS",
        "ceiling ratio >= 0.8x: 0.62x -> MISS",
        "soak: FAIL",
        "ratio 0.9x: inconclusive (the null ceiling is a lower bound)",
    ]


def test_summary_names_a_suite_that_printed_no_target() -> None:
    rows = report.summary([("tickcast bench a", ["x -> PASS"]), ("tickcast bench b", [])])
    assert rows[0] == "## Targets"
    assert "- **tickcast bench a**: x -> PASS" in rows
    assert "- **tickcast bench b**: no target line printed" in rows
