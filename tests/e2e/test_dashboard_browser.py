"""The dashboard in a real browser (issues 14 and 19): Debian's Chromium, headless,
driven over the DevTools protocol, loads `/` from a real bridge on loopback that
holds 300 symbols with data flowing. The page subscribes in messages of at most
the protocol's 200 symbols and counts a symbol subscribed when `subscribed` names
it; a symbol view draws the bars (candles, Bollinger bands), RSI, MACD and the
prediction history from REST, then live, with the last trade from `trades`; the
numbers shown are the documents the bridge served. A symbol is added with the
keyboard (the server validates it), another removed, and the watch list survives a
reload; after the bridge restarts (1012) the page resumes with `since`, in chunks.
Refusals show inline (forbidden, not a symbol, unknown) and a 4401 shows a sign-in
message. Load time and JS heap with 300 symbols are printed. Screenshots go to
build/e2e/."""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import random
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

from tickcast.bench.loopback import LoopbackServer
from tickcast.bridge import jwt_hs256
from tickcast.bridge.app import create_app
from tickcast.bridge.auth import DEFAULT_JWT_AUDIENCE
from tickcast.bridge.memory import MemorySource
from tickcast.bridge.protocol import CLOSE_RESTART, MAX_SYMBOLS_PER_MESSAGE
from tickcast.bridge.trades import TicksFeed
from tickcast.config import Settings
from tickcast.indicators.bollinger import BollingerBands
from tickcast.indicators.macd import MACD
from tickcast.indicators.rsi import RSI
from tickcast.schema import Tick, TicksMessage

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TICKCAST_E2E_ARTIFACTS", ROOT / "build" / "e2e"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET = "d" * 40
SYMBOLS = [f"S{i:03d}" for i in range(300)]
RICH = SYMBOLS[:20]  # symbols with a full history (the others have their latest bar only)
HISTORY = 150  # bars of history of a rich symbol
FIRST_SEQ = (int(time.time()) - 30) * 1000  # the newest bar ended 30 s ago (1 s bars)
WATCH_S = 4.0
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
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = DEADLINE_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError:  # the page is still loading (or reloading)
                value = None
            if value:
                return value
            assert time.monotonic() < deadline, f"never true in the page: {expression}"
            time.sleep(0.1)

    def text(self, element_id: str) -> str:
        return str(self.evaluate(f"document.getElementById({element_id!r}).textContent"))

    def press_enter(self) -> None:
        """Enter on the focused element, as a keyboard sends it."""
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        self.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **key)
        self.call("Input.dispatchKeyEvent", type="keyUp", **key)

    def press(self, key: str, code: int) -> None:
        """A key without text (arrows, Home, End) on the focused element."""
        keys = {"key": key, "code": key, "windowsVirtualKeyCode": code}
        self.call("Input.dispatchKeyEvent", type="rawKeyDown", **keys)
        self.call("Input.dispatchKeyEvent", type="keyUp", **keys)

    def focused_row(self) -> str | None:
        value = self.evaluate("document.activeElement.closest('.row')?.dataset.symbol ?? null")
        return None if value is None else str(value)

    def type_into(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({selector!r}).focus()")
        self.call("Input.insertText", text=text)

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

    def request_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

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
            "--enable-precise-memory-info",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1440,1000",
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


class Walk:
    """One symbol's 1 s bars with the real indicators and a logistic prediction on them:
    documents of the shape predict writes (symbols/{SYM} and its history)."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self.rng = random.Random(seed)
        self.close = 20.0 + self.rng.random() * 300
        self.rsi, self.macd, self.bb = RSI(14), MACD(), BollingerBands(20, 2.0)

    def next(self, seq: int) -> dict[str, Any]:
        rng, o = self.rng, self.close
        c = round(o * (1 + rng.gauss(0.0002, 0.004)), 2)
        h = round(max(o, c) * (1 + abs(rng.gauss(0, 0.0015))), 2)
        low = round(min(o, c) * (1 - abs(rng.gauss(0, 0.0015))), 2)
        self.close = c
        rsi, m, b = self.rsi.update(c), self.macd.update(c), self.bb.update(c)
        features: dict[str, Any] = {
            "close": c,
            "rsi_14": rsi,
            "macd": m.macd if m else None,
            "macd_signal": m.signal if m else None,
            "macd_hist": m.histogram if m else None,
            "bb_upper": b.upper if b else None,
            "bb_middle": b.middle if b else None,
            "bb_lower": b.lower if b else None,
            "bb_pctb": (c - b.lower) / (b.upper - b.lower) if b and b.upper > b.lower else None,
        }
        ready = rsi is not None and m is not None and b is not None
        prediction = None
        if ready:
            assert rsi is not None and m is not None and features["bb_pctb"] is not None
            factors = [
                {"name": "rsi_14", "contribution": round((50 - rsi) / 60, 4)},
                {"name": "macd_hist", "contribution": round(40 * m.histogram / c, 4)},
                {"name": "bb_pctb", "contribution": round(0.5 - features["bb_pctb"], 4)},
                {"name": "intercept", "contribution": 0.02},
            ]
            z = sum(f["contribution"] for f in factors)
            p_up = round(1 / (1 + math.exp(-z)), 4)
            prediction = {
                "model_id": "baseline",
                "model_version": "3",
                "horizon_bars": 1,
                "p_up": p_up,
                "direction": "up" if p_up >= 0.5 else "down",
                "confidence": max(p_up, 1 - p_up),
                "expected_return": round((p_up - 0.5) * 0.002, 6),
                "factors": factors,
            }
        now = time.time_ns()
        return {
            "symbol": self.symbol,
            "interval_s": 1,
            "seq": seq,
            "bar": {
                "t": seq - 1000,
                "o": o,
                "h": h,
                "l": low,
                "c": c,
                "v": 1000.0,
                "vwap": c,
                "n": 9,
            },
            "features": features,
            "ready": ready,
            "reason": None
            if ready
            else "warming up: RSI(14), MACD(12,26,9), Bollinger(20) need more bars",
            "prediction": prediction,
            "updated_at": seq,
            "trace": {
                "event": now - 48_000_000,
                "published": now - 45_000_000,
                "ingest": now - 40_000_000,
                "features": now - 22_000_000,
                "predict": now - 6_000_000,
            },
        }


def seed_source(source: MemorySource, symbols: list[str], rich: list[str]) -> dict[str, Walk]:
    """History for the rich symbols, the latest (warm) bar for the others."""
    walks = {}
    for i, sym in enumerate(symbols):
        walk = walks[sym] = Walk(sym, i)
        for k in range(HISTORY):
            doc = walk.next(FIRST_SEQ - (HISTORY - 1 - k) * 1000)
            if sym in rich or k == HISTORY - 1:
                source.put("symbols", sym, doc)
    source.put(
        "models",
        "baseline",
        {
            "model_id": "baseline",
            "model_version": "3",
            "scores": {"count": 1200, "hits": 642, "brier_sum": 291.6},
        },
    )
    return walks


def subscribes(frames: list[dict[str, Any]], channel: str = "predictions") -> list[dict[str, Any]]:
    """The page's subscribe frames of one channel."""
    return [
        f
        for f in frames
        if f.get("type") == "subscribe" and f.get("channel", "predictions") == channel
    ]


SUBSCRIBED = "Number(document.getElementById('counts').dataset.subscribed)"
STATE = "window.tickcast.state()"


def fig(doc: dict[str, Any]) -> dict[str, str]:
    """What the symbol view must show for `doc`, formatted as the page does."""
    p, f = doc["prediction"], doc["features"]
    return {
        "d-close": f"{doc['bar']['c']:.2f}",
        "d-pup": f"{p['p_up']:.3f}",
        "d-conf": f"{100 * p['confidence']:.1f}%",
        "d-rsi": f"{f['rsi_14']:.1f}",
        "d-macd": f"{f['macd']:.4f} / {f['macd_signal']:.4f}",
        "d-bb": f"{f['bb_lower']:.2f} \u2013 {f['bb_upper']:.2f}",  # an en dash, as shown
        "d-model": f"{p['model_id']} v{p['model_version']} · 1 bar",
        "d-dir": {"up": "▲ up", "down": "▼ down"}.get(p["direction"], "■ " + p["direction"]),
    }


def shown(page: DevTools) -> dict[str, str]:
    return {
        k: page.text(k)
        for k in ("d-close", "d-pup", "d-conf", "d-rsi", "d-macd", "d-bb", "d-model", "d-dir")
    }


def wait_shown(page: DevTools, doc: dict[str, Any]) -> None:
    want = fig(doc)
    deadline = time.monotonic() + DEADLINE_S
    while shown(page) != want:
        assert time.monotonic() < deadline, f"{shown(page)} != {want}"
        time.sleep(0.1)


def test_the_dashboard_with_300_symbols_in_chromium(
    chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Channel `trades` on, without Pub/Sub: ticks are handed to the hub directly.
    monkeypatch.setattr(TicksFeed, "start", lambda self: None)
    source = MemorySource()
    walks = seed_source(source, SYMBOLS, RICH)
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET, "TICKCAST_WS_TRADES": "true"})
    token = jwt_hs256.encode(
        {"sub": "desk", "exp": time.time() + 3600, "aud": DEFAULT_JWT_AUDIENCE, "symbols": ["*"]},
        SECRET.encode(),
    )
    app = create_app(cfg, source=source)
    hub = app.state.hub
    counting = CountingApp(app)
    seq = FIRST_SEQ

    def publish(symbols: list[str]) -> dict[str, dict[str, Any]]:
        nonlocal seq
        seq += 1000
        docs = {sym: walks[sym].next(seq) for sym in symbols}
        for sym, doc in docs.items():
            source.put("symbols", sym, doc)
        return docs

    try:
        with LoopbackServer(counting, cfg) as server:
            deadline = time.monotonic() + DEADLINE_S
            while len(hub.latest) < len(SYMBOLS):
                assert time.monotonic() < deadline, "the bridge never loaded the symbols"
                time.sleep(0.05)
            assert server.loop is not None
            with connect(chromium, max_size=None, open_timeout=DEADLINE_S) as cdp:
                page = DevTools(cdp)
                page.call("Network.enable")
                page.call("Page.enable")
                page.call("Performance.enable")
                t0 = time.monotonic()
                page.call("Page.navigate", url=f"{server.http}/#token={token}")

                # 1. every symbol subscribed, in messages of at most 200 symbols; the list
                # is virtualised: a screenful of rows in the DOM, not 300
                page.wait_for(f"{SUBSCRIBED} === {len(SYMBOLS)}")
                loaded_s = time.monotonic() - t0
                first = subscribes(page.sent_frames())
                assert max(len(f["symbols"]) for f in first) <= MAX_SYMBOLS_PER_MESSAGE
                assert [len(f["symbols"]) for f in first] == [200, 100]
                assert sorted(s for f in first for s in f["symbols"]) == SYMBOLS
                assert all("since" not in f for f in first)
                in_dom = page.evaluate("document.querySelectorAll('#list .row').length")
                assert 10 < in_dom < 100, in_dom
                assert page.evaluate(
                    "[...document.querySelectorAll('#list .row')].every("
                    "r => r.dataset.sub === 'subscribed')"
                )
                nav = page.evaluate(
                    "(() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()"
                )
                metrics = {
                    m["name"]: m["value"] for m in page.call("Performance.getMetrics")["metrics"]
                }
                heap = page.evaluate("performance.memory.usedJSHeapSize")
                # the token never went into a URL the page requested
                assert not [u for u in page.request_urls() if token in u.split("#")[0]]
                assert all(token not in u for u in counting.paths)

                # 2. data flowing: rows update live; the page reads /v1/symbols once
                for _ in range(12):
                    latest = publish(SYMBOLS[:40])
                    time.sleep(0.25)
                row_close = "document.querySelector('.row[data-symbol=\"S003\"] .last').textContent"
                page.wait_for(f"{row_close} === '{latest['S003']['bar']['c']:.2f}'")

                # 3. the symbol view: select S007 with the keyboard
                page.evaluate("document.querySelector('.row[data-symbol=\"S007\"] .sym').focus()")
                page.press_enter()
                page.wait_for(f"{STATE}.selected === 'S007'")
                # the virtualised list by keyboard: arrows, End (the last row is rendered
                # and focused), Home
                page.press("ArrowDown", 40)
                assert page.focused_row() == "S008"
                page.press("End", 35)
                assert page.focused_row() == "S299"
                page.press("ArrowUp", 38)
                assert page.focused_row() == "S298"
                page.press("Home", 36)
                assert page.focused_row() == "S000"
                served = [d for s, d in sorted(source.history_docs["S007"].items())]
                page.wait_for(f"window.tickcast.series().candles.length === {len(served)}")
                wait_shown(page, hub.latest["S007"])
                series = page.evaluate("window.tickcast.series()")
                assert series["candles"] == [
                    [d["seq"] // 1000, d["bar"]["o"], d["bar"]["h"], d["bar"]["l"], d["bar"]["c"]]
                    for d in served
                ]
                assert series["pup"] == [
                    [d["seq"] // 1000, d["prediction"]["p_up"]] for d in served if d["prediction"]
                ]
                assert series["rsi"] == [
                    [d["seq"] // 1000, d["features"]["rsi_14"]]
                    for d in served
                    if d["features"]["rsi_14"] is not None
                ]
                assert series["bb"] == [
                    [d["seq"] // 1000, d["features"]["bb_upper"]]
                    for d in served
                    if d["features"]["bb_upper"] is not None
                ]
                factors = page.evaluate(
                    "[...document.querySelectorAll('#factors li')].map("
                    "li => [li.querySelector('.n').textContent, li.querySelector('.v').textContent])"
                )
                want = sorted(
                    hub.latest["S007"]["prediction"]["factors"],
                    key=lambda f: -abs(f["contribution"]),
                )
                assert factors == [
                    [
                        f["name"],
                        ("+" if f["contribution"] >= 0 else "") + f"{f['contribution']:.3f}",
                    ]
                    for f in want
                ]
                # a live bar reaches the open symbol view, and keeps the trader's zoom
                page.evaluate("window.tickcast.zoom(20, 80)")
                time.sleep(0.3)
                zoomed = page.evaluate("window.tickcast.range()")
                wait_shown(page, publish(["S007"])["S007"])
                page.wait_for(f"window.tickcast.series().candles.length === {len(served) + 1}")
                assert page.evaluate("window.tickcast.range()") == zoomed
                page.evaluate(
                    "window.tickcast.zoom(0, window.tickcast.series().candles.length + 2)"
                )

                # the live last trade (channel `trades`) between bar closes
                price = round(walks["S007"].close * 1.0007, 2)
                bid, ask = round(price - 0.01, 2), round(price + 0.02, 2)
                deadline = time.monotonic() + DEADLINE_S
                while page.text("d-last") != f"{price:.2f}":
                    assert time.monotonic() < deadline, "the last trade never showed"
                    now_ns = time.time_ns()
                    ticks = (
                        Tick(
                            ts=now_ns - 1000, price=(bid + ask) / 2, kind="quote", bid=bid, ask=ask
                        ),
                        Tick(ts=now_ns, price=price, size=100.0),
                    )
                    server.loop.call_soon_threadsafe(
                        hub.on_ticks, TicksMessage(symbol="S007", ticks=ticks, batch="b")
                    )
                    time.sleep(0.3)
                assert page.evaluate("window.tickcast.series().last") == price
                assert page.evaluate("document.title").startswith(f"S007 {price:.2f} ")
                page.wait_for(
                    f"document.getElementById('d-quote').textContent === '{bid:.2f} / {ask:.2f}'"
                )
                assert "S007" in page.evaluate(f"{STATE}.subs.trades")

                # 4. alerts of watched symbols, newest first, with kind, time and values
                now_ms = int(time.time() * 1000)
                for k, (sym, kind, value, threshold) in enumerate(
                    [
                        ("S007", "rsi_overbought", 72.4, 70.0),
                        ("S002", "high_confidence", 0.64, 0.6),
                        ("S011", "bollinger_breakout_down", 101.2, 101.9),
                    ]
                ):
                    bar = seq - (2 - k) * 1000
                    source.put(
                        "alerts",
                        f"{sym}-{bar}-{kind}",
                        {
                            "symbol": sym,
                            "seq": bar,
                            "kind": kind,
                            "message": f"{sym}: {kind.replace('_', ' ')} {value:g} vs {threshold:g}",
                            "value": value,
                            "threshold": threshold,
                            "created_at": now_ms + k,
                        },
                    )
                page.wait_for("document.querySelectorAll('#alerts li').length === 3")
                alerts = page.evaluate(
                    "[...document.querySelectorAll('#alerts li')].map(li => li.dataset.kind)"
                )
                assert alerts == ["bollinger_breakout_down", "high_confidence", "rsi_overbought"]
                assert "value 72.400 · threshold 70.000" in page.evaluate(
                    "document.querySelector('#alerts li:last-child').textContent"
                )

                # 5. the system panel: /stats and the live model's scores (models/{id})
                page.wait_for(
                    "document.querySelector('[data-fig=\"Live model\"]')?.textContent === 'baseline v3'"
                )
                stats_figs = page.evaluate(
                    "Object.fromEntries([...document.querySelectorAll('#sys-figs dd')]"
                    ".map(d => [d.dataset.fig, d.textContent]))"
                )
                assert stats_figs["Hit rate"] == f"{100 * 642 / 1200:.1f}%"
                assert stats_figs["Brier score"] == f"{291.6 / 1200:.4f}"
                assert stats_figs["Scored predictions"] == "1200"
                assert page.evaluate("document.querySelectorAll('#sys-hops tr').length") == 4
                # end to end as the page sees it (trace.event to arrival), beside the bridge's
                page.wait_for(
                    "document.querySelector('[data-fig=\"To this page p50 / p99\"]')"
                    "?.textContent.endsWith(' ms')"
                )
                assert page.text("status").startswith("connected")
                time.sleep(WATCH_S)
                page.call("Runtime.evaluate", expression="0")  # collect the events meanwhile
                assert counting.paths.count("/v1/symbols") == 1
                assert page.requests("/v1/symbols") == 1
                shot = page.screenshot("dashboard-300.png")
                page.call("HeapProfiler.collectGarbage")
                viewing = {
                    m["name"]: m["value"] for m in page.call("Performance.getMetrics")["metrics"]
                }

                # 6. add a symbol with the keyboard: the server normalises and accepts it
                walks["S300"] = Walk("S300", 300)
                for k in range(HISTORY):
                    source.put(
                        "symbols", "S300", walks["S300"].next(seq - (HISTORY - 1 - k) * 1000)
                    )
                while "S300" not in hub.latest or hub.latest["S300"]["seq"] != seq:
                    time.sleep(0.05)
                page.type_into("#add-symbol", "s300")
                page.press_enter()
                page.wait_for(f"{STATE}.selected === 'S300'")
                assert page.text("add-msg").startswith("Added S300")
                assert page.evaluate(f"{STATE}.watch.at(-1)") == "S300"
                page.wait_for(f"window.tickcast.series().candles.length === {HISTORY}")
                live = publish(["S300"])["S300"]  # a live update
                page.wait_for(f"window.tickcast.series().candles.length === {HISTORY + 1}")
                wait_shown(page, live)
                symbol_shot = page.screenshot("dashboard-symbol.png")

                # refused inline: not a symbol, unknown to the bridge
                page.type_into("#add-symbol", "not a symbol!")
                page.press_enter()
                page.wait_for("document.getElementById('add-msg').className === 'error'")
                assert "is not a symbol" in page.text("add-msg")
                page.evaluate("document.getElementById('add-symbol').value = ''")
                page.type_into("#add-symbol", "ZZZZ")
                page.press_enter()
                page.wait_for(
                    "document.getElementById('add-msg').textContent.startsWith('Unknown')"
                )
                assert page.text("add-msg") == "Unknown symbol ZZZZ: the bridge has no data for it."
                assert "ZZZZ" not in page.evaluate(f"{STATE}.watch")

                # 7. remove one with the keyboard; the list survives a reload
                page.evaluate("document.getElementById('list').scrollTop = 0")  # virtualised
                page.wait_for("document.querySelector('.row[data-symbol=\"S001\"] .rm') !== null")
                page.evaluate("document.querySelector('.row[data-symbol=\"S001\"] .rm').focus()")
                page.press_enter()
                page.wait_for(f"!{STATE}.watch.includes('S001')")
                page.wait_for(f"!{STATE}.subs.predictions.includes('S001')")
                expected = [s for s in SYMBOLS if s != "S001"] + ["S300"]
                assert page.evaluate(f"{STATE}.watch") == expected
                page.call("Page.reload")
                page.wait_for(f"{SUBSCRIBED} === {len(expected)}")
                assert page.evaluate(f"{STATE}.watch") == expected
                assert page.evaluate(f"{STATE}.selected") == "S300"
                assert page.evaluate("document.querySelector('.row[data-symbol=\"S001\"]')") is None
                wait_shown(page, hub.latest["S300"])
                # the reloaded page shows the alerts raised before it opened (GET /v1/alerts)
                page.wait_for("document.querySelectorAll('#alerts li').length === 3")
                assert (
                    page.evaluate(
                        "[...document.querySelectorAll('#alerts li')].map(li => li.dataset.kind)"
                    )
                    == alerts
                )

                # 8. a restarting bridge (1012): the page resumes with `since`, in chunks
                sent_before = len(page.sent_frames())
                server.loop.call_soon_threadsafe(
                    functools.partial(hub.close_all, CLOSE_RESTART, "restart", flush=True)
                )
                page.wait_for(f"{SUBSCRIBED} === 0")
                assert (
                    page.evaluate("document.getElementById('status').dataset.state")
                    == "reconnecting"
                )
                assert "with since" in page.text("status")
                page.wait_for(f"{SUBSCRIBED} === {len(expected)}")
                again = subscribes(page.sent_frames()[sent_before:])
                assert [len(f["symbols"]) for f in again] == [200, 100]
                since = {s: q for f in again for s, q in f["since"].items()}
                assert since == {s: hub.latest[s]["seq"] for s in expected}
                page.screenshot("dashboard-300-resumed.png")
    finally:
        source.close()
    assert shot.stat().st_size > 10_000 and symbol_shot.stat().st_size > 10_000
    print(
        f"\ndashboard, 300 symbols in Chromium: all subscribed {loaded_s:.2f} s after "
        f"navigation (DOMContentLoaded {nav['dcl']:.0f} ms, load {nav['load']:.0f} ms); "
        f"JS heap used {metrics.get('JSHeapUsedSize', 0) / 1e6:.1f} MB of "
        f"{metrics.get('JSHeapTotalSize', 0) / 1e6:.1f} MB (performance.memory "
        f"{heap / 1e6:.1f} MB); {int(metrics.get('Nodes', 0))} DOM nodes; with a symbol "
        f"view open and data flowing (after GC): JS heap {viewing['JSHeapUsedSize'] / 1e6:.1f} MB, "
        f"{int(viewing['Nodes'])} DOM nodes; "
        f"screenshots {shot}, {symbol_shot}"
    )


def test_refusals_and_sign_in_show_in_the_page(chromium: str) -> None:
    source = MemorySource()
    seed_source(source, ["AAA", "BBB", "CCC"], [])
    cold = Walk("BBB", 99).next(FIRST_SEQ + 1000)  # the newest bar of BBB: not ready
    source.put("symbols", "BBB", cold)
    cfg = Settings.from_env({"TICKCAST_WS_JWT_SECRET": SECRET})
    token = jwt_hs256.encode(
        {
            "sub": "desk",
            "exp": time.time() + 3600,
            "aud": DEFAULT_JWT_AUDIENCE,
            "symbols": ["AAA", "BBB"],
        },
        SECRET.encode(),
    )
    app = create_app(cfg, source=source)
    try:
        with LoopbackServer(app, cfg) as server:
            while len(app.state.hub.latest) < 3:
                time.sleep(0.05)
            with connect(chromium, max_size=None, open_timeout=DEADLINE_S) as cdp:
                page = DevTools(cdp)
                page.call("Page.enable")
                page.call("Page.navigate", url=f"{server.http}/#token={token}")
                page.wait_for(f"{SUBSCRIBED} === 2")  # what the credential may read
                assert page.evaluate(f"{STATE}.watch") == ["AAA", "BBB"]
                # outside the credential's entitlements: the server's `forbidden`, inline
                page.type_into("#add-symbol", "ccc")
                page.press_enter()
                page.wait_for("document.getElementById('add-msg').className === 'error'")
                assert page.text("add-msg") == (
                    "Cannot add ccc: not entitled to CCC with this credential."
                )
                assert page.evaluate(f"{STATE}.watch") == ["AAA", "BBB"]
                # a bar that is not ready says why
                page.evaluate("document.querySelector('.row[data-symbol=\"BBB\"] .sym').click()")
                page.wait_for("document.getElementById('notready').classList.contains('show')")
                assert page.text("notready") == f"Not ready: {cold['reason']}"
                assert page.text("d-dir") == "not ready"
                # a refused credential (4401): a sign-in message, no reconnect loop
                page.call("Page.navigate", url="about:blank")
                page.call("Page.navigate", url=f"{server.http}/#token=tck_000000000000_bad")
                page.wait_for("document.getElementById('signin').classList.contains('show')")
                assert page.evaluate("document.getElementById('status').dataset.state") == (
                    "unauthorised"
                )
                assert (
                    page.evaluate("document.getElementById('status').getAttribute('aria-live')")
                    == "polite"
                )
                page.screenshot("dashboard-signed-out.png")
    finally:
        source.close()
