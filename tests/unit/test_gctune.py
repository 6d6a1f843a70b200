"""A function instance tunes the garbage collector at its first message (tickcast.gctune).

Run in a child interpreter: the settings are process-wide and must not leak into
the test session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import base64, gc, json
    from tickcast import gctune
    from tickcast.stage import run

    before = (gc.get_threshold()[0], gc.get_freeze_count())
    seen = []
    event = {"message": {"data": base64.b64encode(b"{}").decode(), "messageId": "1"}}
    run("ingest", event, lambda msg, s: seen.append(msg.message_id))
    first = (gc.get_threshold()[0], gc.get_freeze_count())
    run("ingest", event, lambda msg, s: seen.append(msg.message_id))
    print(json.dumps({"before": before, "first": first, "seen": seen,
                      "again": gctune.apply_once()}))
    """
)


def test_the_first_message_freezes_the_heap_and_raises_the_young_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"][0] == 700 and got["before"][1] == 0  # CPython's defaults
    threshold, frozen = got["first"]
    assert threshold == 50_000
    assert frozen > 10_000  # the imported libraries' objects, out of every collection's walk
    assert got["seen"] == ["1", "1"]  # both messages handled
    assert got["again"] is False  # once per process
