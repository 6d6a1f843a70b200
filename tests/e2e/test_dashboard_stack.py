"""The dashboard on the whole local stack (issue 19): Alpaca trades published to
tickcast-raw go through ingest, features and predict to the Firestore emulator and
the bridge, and a headless Chromium on the bridge's `/` shows them. The page adds a
symbol with the keyboard, draws its history and live bars, and the figures it shows
are the Firestore documents of that bar; the last trade comes from `trades`
(tickcast-ticks). A symbol is removed, and the watch list survives a reload.
Screenshot: build/e2e/dashboard-stack.png."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_dashboard_browser import (  # the same DevTools client and Chromium
    DEADLINE_S,
    STATE,
    SUBSCRIBED,
    DevTools,
    chromium,  # noqa: F401  (a fixture)
    fig,
    shown,
)
from websockets.sync.client import connect

from tickcast.config import Settings
from tickcast.local.stack import LocalStack
from tickcast.predict.store import PREDICTIONS, SYMBOLS, history_id
from tickcast.pubsub import publish
from tickcast.replay import OHLCV, Series, bar_messages

BACKFILL = 40  # > the longest warm-up (MACD 12/26/9 needs 34 closes)
LIVE = 12  # bars published live, one a second, after the page is open

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> Iterator[LocalStack]:
    with local_stack("dashboard", redis_db=11) as st:  # its own db: no other stack's bars
        yield st


def rows(n: int, base: float, step: float) -> list[OHLCV]:
    out = []
    for i in range(n):
        o = round(base + step * i + (0.8 if i % 5 == 0 else 0.0), 2)
        c = round(o + (0.6 if i % 3 else -0.9), 2)
        out.append(OHLCV(o, max(o, c) + 0.3, min(o, c) - 0.3, c, 1000.0 + i))
    return out


def get_json(url: str) -> Any:
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError:
        return None


def test_the_dashboard_on_the_local_stack(stack: LocalStack, chromium: str) -> None:  # noqa: F811
    env = stack.env()
    s = Settings.from_env(env)
    http = env["TICKCAST_WS_URL"].replace("ws://", "http://").removesuffix("/ws")
    aapl = Series("AAPL", rows(BACKFILL + LIVE, 180.0, 0.15))
    msft = Series("MSFT", rows(BACKFILL + LIVE, 410.0, -0.2))

    def ready(symbol: str) -> bool:
        doc = get_json(f"{http}/v1/symbols/{symbol}")
        return bool(doc and doc.get("prediction"))

    def wait(cond: Any, what: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.25)

    # AAPL's history is there before the page opens: the first visit watches it
    (_, body), *_ = bar_messages([aapl], 1.0, backfill=BACKFILL, limit=BACKFILL)
    publish(s, "raw", [(body, "", {"format": "alpaca"})])
    wait(lambda: ready("AAPL"), "AAPL never got a prediction")

    with connect(chromium, max_size=None, open_timeout=DEADLINE_S) as cdp:
        page = DevTools(cdp)
        page.call("Page.enable")
        page.call("Page.navigate", url=f"{http}/")  # local: no token needed
        page.wait_for(f"{SUBSCRIBED} === 1")
        assert page.evaluate(f"{STATE}.watch") == ["AAPL"]

        # MSFT's history, then both symbols live, one bar a second, in the background
        messages = list(bar_messages([msft, aapl], 1.0, backfill=BACKFILL, limit=BACKFILL + LIVE))
        publish(s, "raw", [(messages[0][1], "", {"format": "alpaca"})])
        wait(lambda: ready("MSFT"), "MSFT never got a prediction")

        def live() -> None:
            for due, body in messages[1:]:
                time.sleep(max(0.0, due - time.time()))
                publish(s, "raw", [(body, "", {"format": "alpaca"})])

        feeder = threading.Thread(target=live, daemon=True)
        feeder.start()

        # add MSFT with the keyboard: the server's `subscribed` names it
        page.evaluate("document.getElementById('add-symbol').focus()")
        page.call("Input.insertText", text="msft")
        page.press_enter()
        page.wait_for(f"{STATE}.selected === 'MSFT'")
        assert page.evaluate(f"{STATE}.watch") == ["AAPL", "MSFT"]
        page.wait_for(f"window.tickcast.series().candles.length >= {BACKFILL - 1}")
        first = page.evaluate("window.tickcast.series().candles.length")
        page.wait_for(f"window.tickcast.series().candles.length > {first}")  # a live bar
        # the last trade between bar closes (channel `trades`, from tickcast-ticks)
        page.wait_for("document.getElementById('d-last').title.startsWith('last trade')")
        feeder.join(timeout=LIVE + 30)

        # what the page shows is the Firestore document of the bar it shows
        from google.cloud import firestore

        db = firestore.Client(project=stack.project)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            seq = page.evaluate(f"{STATE}.seq")
            snap = (
                db.collection(SYMBOLS)
                .document("MSFT")
                .collection(PREDICTIONS)
                .document(history_id(seq))
                .get()
            )
            doc = snap.to_dict() if snap.exists else None
            if doc and doc.get("prediction") and shown(page) == fig(doc):
                break
            assert time.monotonic() < deadline, f"{shown(page)} != {doc and fig(doc)}"
            time.sleep(0.5)
        candles = page.evaluate("window.tickcast.series().candles")
        stored = {
            d.get("seq"): d.get("bar")
            for d in db.collection(SYMBOLS).document("MSFT").collection(PREDICTIONS).stream()
            for d in [d.to_dict()]
        }
        for t, o, h, low, c in candles:
            bar = stored[t * 1000]
            assert (o, h, low, c) == (bar["o"], bar["h"], bar["l"], bar["c"])
        last_close = f"{msft.rows[-1].close:.2f}"
        page.wait_for(f"document.getElementById('d-last').textContent === '{last_close}'")
        page.screenshot("dashboard-stack.png")

        # remove AAPL with the keyboard; the watch list survives a reload
        page.evaluate("document.querySelector('.row[data-symbol=\"AAPL\"] .rm').focus()")
        page.press_enter()
        page.wait_for(f"{STATE}.watch.length === 1")
        page.call("Page.reload")
        page.wait_for(f"{SUBSCRIBED} === 1")
        assert page.evaluate(f"{STATE}.watch") == ["MSFT"]
        assert page.evaluate(f"{STATE}.selected") == "MSFT"
