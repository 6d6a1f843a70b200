"""A REST page as large as a vendor serves it reaches features whole, in messages
Pub/Sub accepts.

Polygon's trades endpoint returns up to 50,000 trades a page (`limit`, "max 50000",
https://polygon.io/docs/rest/stocks/trades-quotes/trades). Published as one ticks
message that is 10-20 MB of JSON, over Pub/Sub's 10 MB limit for a message
(https://cloud.google.com/pubsub/quotas#resource_limits): the publish fails on every
delivery and the page ends in the dead-letter topic. Ingest cuts a symbol's ticks into
messages of at most `MAX_TICKS_PER_MESSAGE`, in order under the symbol's ordering key.
Through the real functions-framework wrapper and the Pub/Sub emulator.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from functions_framework import create_app

from tickcast.ingest.stage import MAX_TICKS_PER_MESSAGE

ROOT = Path(__file__).resolve().parents[2]
PAGE = 50_000
PUBSUB_MESSAGE_LIMIT = 10_000_000  # bytes
pytestmark = pytest.mark.emulator


def _push(data: bytes, message_id: str) -> dict[str, Any]:
    message = {
        "data": base64.b64encode(data).decode(),
        "messageId": message_id,
        "attributes": {"format": "polygon"},
    }
    return {"message": message, "subscription": "projects/p/subscriptions/large"}


def _page(symbol: str, n: int) -> bytes:
    t0 = time.time_ns() - 60 * 10**9
    results = [
        {
            "conditions": [12, 41],
            "exchange": 11,
            "id": str(i + 1),
            "participant_timestamp": t0 + i * 1000 - 400,
            "price": 171.55 + (i % 50) / 100,
            "sequence_number": 1000 + i,
            "sip_timestamp": t0 + i * 1000,
            "size": 100 + i % 7,
            "tape": 3,
        }
        for i in range(n)
    ]
    return orjson.dumps({"results": results, "status": "OK", "ticker": symbol})


def test_a_page_of_50000_trades_goes_out_in_messages_pubsub_accepts(
    backends: Any, puller: Any, symbol: str
) -> None:
    app = create_app(
        target="ingest",
        source=str(ROOT / "functions" / "ingest" / "main.py"),
        signature_type="cloudevent",
    ).test_client()
    ticks_sub = puller("tickcast-ticks")
    page = _page(symbol, PAGE)
    assert len(page) > 5_000_000  # the vendor's page itself is large

    assert app.post("/", json=_push(page, f"{symbol}-page")).status_code == 200

    want = -(-PAGE // MAX_TICKS_PER_MESSAGE)
    got = [
        m for m in ticks_sub.pull(want, timeout_s=60, max_messages=1) if m.ordering_key == symbol
    ]
    assert len(got) == want
    assert all(len(m.data) < PUBSUB_MESSAGE_LIMIT for m in got)
    bodies = sorted((orjson.loads(m.data) for m in got), key=lambda b: b["ticks"][0]["ts"])
    ticks = [t for b in bodies for t in b["ticks"]]
    assert [t["seq"] for t in ticks] == list(range(1000, 1000 + PAGE))  # all, in order
    assert len({b["batch"] for b in bodies}) == want  # each chunk its own batch id

    # A redelivery of the page publishes nothing more (ingest's done mark).
    assert app.post("/", json=_push(page, f"{symbol}-page")).status_code == 200
    again = [m for m in ticks_sub.pull(1, timeout_s=5, max_messages=1) if m.ordering_key == symbol]
    assert again == []
