"""The dashboard in a real browser (issue 14, point 8): Debian's Chromium, headless,
driven over the DevTools protocol, loads `/` from a real bridge on loopback that
holds 300 symbols. Every subscribe frame the page sends carries at most the
protocol's 200 symbols, all 300 rows end up subscribed (as the server's
`subscribed` frames said), live frames update the rows, `/v1/symbols` is read
once however long the page stays open, and after the bridge restarts (1012) the
page resumes with `since`, still in chunks. Screenshots go to build/e2e/."""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tickcast.bridge import jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE
from tickcast.bridge.loopback import LoopbackServer
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.protocol import CLOSE_RESTART, MAX_SYMBOLS_PER_MESSAGE
from tickcast.bridge.sample import prediction_doc
from tickcast.bridge.trades import TicksFeed
from tickcast.config import Settings
from tickcast.schema import Tick, TicksMessage

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TICKCAST_E2E_ARTIFACTS", ROOT / "build" / "e2e"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET = "d" * 40
SYMBOLS = [f"S{i:03d}" for i in range(300)]
FIRST_SEQ = (int(time.time()) - 60) * 1000  # a bar that ended a minute ago
WATCH_S = 8.0  # four of the old page's 2 s polls
DEADLINE_S = 60.0  # two shared cores: Chromium's start and 300 rows take a while

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/bootstrap.sh)"),
]


class CountingApp:
    """The bridge's ASGI app, counting the HTTP paths it was asked for."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


class DevTools:
    """A minimal DevTools protocol client on one page target; events are kept."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=DEADLINE_S))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = DEADLINE_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"never true in the page: {expression}"
            time.sleep(0.1)

    def sent_frames(self) -> list[dict[str, Any]]:
        return [
            json.loads(e["params"]["response"]["payloadData"])
            for e in self.events
            if e.get("method") == "Network.webSocketFrameSent"
        ]

    def requests(self, path: str) -> int:
        return sum(
            1
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
            and e["params"]["request"]["url"].split("#")[0].endswith(path)
        )

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))
        return path


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium with a fresh profile; yields its page's DevTools URL."""
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: its helpers end with it
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + DEADLINE_S
        while not port_file.exists() or not port_file.read_text().strip():
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium never opened its DevTools port"
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    finally:
        with_group = functools.partial(os.killpg, proc.pid)
        try:
            with_group(signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            with_group(signal.SIGKILL)
            proc.wait(timeout=10)


def subscribes(frames: list[dict[str, Any]], channel: str = "predictions") -> list[dict[str, Any]]:
    """The page's subscribe frames of one channel (it asks `trades` after `predictions`)."""
    return [
        f
        for f in frames
        if f.get("type") == "subscribe" and f.get("channel", "predictions") == channel
    ]


SUBSCRIBED = "document.querySelectorAll('#rows tr[data-sub=\"subscribed\"]').length"


def test_the_dashboard_with_300_symbols_in_chromium(
    chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Channel `trades` on, without Pub/Sub: ticks are handed to the hub directly.
    monkeypatch.setattr(TicksFeed, "start", lambda self: None)
    source = MemorySource()
    for sym in SYMBOLS:
        source.put("symbols", sym, prediction_doc(sym, FIRST_SEQ, interval_s=1))
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_TRADES": "true"})
    token = jwt_hs256.encode(
        {"sub": "desk", "exp": time.time() + 3600, "aud": DEFAULT_JWT_AUDIENCE, "symbols": ["*"]},
        SECRET.encode(),
    )
    app = create_app(cfg, source=source)
    counting = CountingApp(app)
    try:
        with LoopbackServer(counting, cfg) as server:
            deadline = time.monotonic() + DEADLINE_S
            while len(app.state.hub.latest) < len(SYMBOLS):
                assert time.monotonic() < deadline, "the bridge never loaded the symbols"
                time.sleep(0.05)
            with connect(chromium, max_size=None, open_timeout=DEADLINE_S) as cdp:
                page = DevTools(cdp)
                page.call("Network.enable")
                page.call("Page.enable")
                page.call("Performance.enable")
                t0 = time.monotonic()
                page.call("Page.navigate", url=f"{server.http}/#token={token}")

                # 1. every row subscribed, in messages of at most 200 symbols
                page.wait_for(f"{SUBSCRIBED} === {len(SYMBOLS)}")
                loaded_s = time.monotonic() - t0
                first = subscribes(page.sent_frames())
                assert first, "the page sent no subscribe frame"
                assert max(len(f["symbols"]) for f in first) <= MAX_SYMBOLS_PER_MESSAGE
                assert [len(f["symbols"]) for f in first] == [200, 100]
                assert sorted(s for f in first for s in f["symbols"]) == SYMBOLS
                assert page.evaluate("document.querySelectorAll('#rows tr').length") == 300
                assert page.evaluate(
                    "[...document.querySelectorAll('#rows tr')].every("
                    "tr => tr.cells[1].textContent === 'subscribed')"
                )

                # 2. live frames update rows; no /v1/symbols poll while the page stays open
                # the live last trade (channel `trades`, asked after predictions) shows in
                # its row between bar closes; published until the subscription is there
                assert server.loop is not None
                last_cell = (
                    "[...document.querySelectorAll('#rows tr')].find("
                    "tr => tr.cells[0].textContent === 'S007').cells[10].textContent"
                )
                deadline = time.monotonic() + DEADLINE_S
                while page.evaluate(last_cell) != "42.50":
                    assert time.monotonic() < deadline, "the last trade never showed"
                    tick = Tick(ts=time.time_ns(), price=42.5)
                    server.loop.call_soon_threadsafe(
                        app.state.hub.on_ticks,
                        TicksMessage(symbol="S007", ticks=(tick,), batch="b"),
                    )
                    time.sleep(0.3)
                assert subscribes(page.sent_frames(), "trades")

                nxt = prediction_doc("S150", FIRST_SEQ + 1000, interval_s=1)
                source.put("symbols", "S150", nxt)
                close = f"{nxt['bar']['c']:.2f}"
                page.wait_for(
                    "[...document.querySelectorAll('#rows tr')].find("
                    f"tr => tr.cells[0].textContent === 'S150').cells[3].textContent === '{close}'"
                )
                time.sleep(WATCH_S)
                page.call("Runtime.evaluate", expression="0")  # collect the events meanwhile
                assert counting.paths.count("/v1/symbols") == 1
                assert page.requests("/v1/symbols") == 1
                shot = page.screenshot("dashboard-300.png")
                metrics = {
                    m["name"]: m["value"] for m in page.call("Performance.getMetrics")["metrics"]
                }

                # 3. a restarting bridge (1012): the page resumes with `since`, in chunks
                sent_before = len(page.sent_frames())
                assert server.loop is not None
                server.loop.call_soon_threadsafe(
                    functools.partial(app.state.hub.close_all, CLOSE_RESTART, "restart", flush=True)
                )
                page.wait_for(f"{SUBSCRIBED} === 0")
                page.wait_for(f"{SUBSCRIBED} === {len(SYMBOLS)}")
                again = subscribes(page.sent_frames()[sent_before:])
                assert [len(f["symbols"]) for f in again] == [200, 100]
                since = {s: seq for f in again for s, seq in f["since"].items()}
                assert since == {s: FIRST_SEQ + (1000 if s == "S150" else 0) for s in SYMBOLS}
                assert counting.paths.count("/v1/symbols") == 1
                page.screenshot("dashboard-300-resumed.png")
    finally:
        source.close()
    assert shot.stat().st_size > 10_000
    print(
        f"\ndashboard: 300 rows subscribed {loaded_s:.2f} s after navigation; JS heap "
        f"{metrics.get('JSHeapUsedSize', 0) / 1e6:.1f} MB; {int(metrics.get('Nodes', 0))} "
        f"DOM nodes; screenshot {shot}"
    )
