"""The dashboard's client logic, run in Node with a fake browser and a controlled
clock. It sends the token from the URL fragment as the first message, reads
`/v1/symbols` once, subscribes in messages of at most the server's
`max_symbols_per_message`, one in flight and paced by the credential's message
rate, marks a row subscribed only when `subscribed` names it, and after the
bridge closes with 1012 it reconnects and resubscribes with `since` = the last
seq it showed. The same page in a real Chromium against a real bridge:
tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

FAKE_BROWSER = r"""
const sockets = [], timers = [], fetches = [], elements = {};
let now = 1_000_000;
Date.now = () => now;
class Cell { constructor() { this.textContent = ""; this.className = "";
  this.firstChild = { width: 120, height: 24, getContext: () => ({
    clearRect() {}, beginPath() {}, lineTo() {}, moveTo() {}, stroke() {} }) }; } }
class Row { constructor() { this.cells = Array.from({ length: 10 }, () => new Cell());
  this.dataset = {}; } }
const tbody = { children: [], insertBefore(tr, before) {
  const i = before ? this.children.indexOf(before) : -1;
  i < 0 ? this.children.push(tr) : this.children.splice(i, 0, tr); } };
global.document = {
  createElement: () => new Row(),
  getElementById: (id) => (id === "rows" ? tbody : (elements[id] = elements[id] || new Cell())),
};
global.location = { protocol: "https:", host: "bridge.example", hash: "#token=tck_abc", search: "" };
global.setTimeout = (fn, ms) => { timers.push({ fn, at: now + ms }); return timers.length; };
global.clearTimeout = () => {};
const symbols = Array.from({ length: 450 }, (_, i) => "S" + String(i).padStart(3, "0"));
const doc = (symbol, seq) => ({ symbol, seq, bar: { c: 1 }, prediction: null, trace: {} });
global.fetch = async (url, opts) => {
  fetches.push({ url, auth: opts.headers.Authorization });
  return { ok: true, status: 200, json: async () => symbols.map((s) => doc(s, 1000)) };
};
global.WebSocket = class {
  constructor(url) { this.url = url; this.sent = []; sockets.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
};
const tick = () => new Promise((r) => setImmediate(r));
function runTimers() {  // let the clock run until no timer is due
  while (timers.length) {
    timers.sort((a, b) => a.at - b.at);
    const t = timers.shift();
    now = Math.max(now, t.at);
    t.fn();
  }
}
const states = () => { const n = {}; tbody.children.forEach((tr) => {
  n[tr.dataset.sub] = (n[tr.dataset.sub] || 0) + 1; }); return n; };
const subscribes = (ws) => ws.sent.filter((m) => m.type === "subscribe");
const receive = (ws, m) => ws.onmessage({ data: JSON.stringify(m) });
const welcome = { type: "welcome", max_symbols_per_message: 200,
                  auth: { limits: { messages_per_second: 20 } } };
async function main() {
  require(process.argv[2]);
  const out = { states: [] };
  await tick();  // /v1/symbols answered: 450 pending rows
  const first = sockets[0];
  first.onopen();
  receive(first, welcome);
  out.afterWelcome = subscribes(first).map((m) => m.symbols.length);
  out.states.push(states());
  receive(first, { type: "subscribed", channel: "predictions", symbols: subscribes(first)[0].symbols });
  out.pacedSends = subscribes(first).length;  // the next one waits 1/rate
  const before = now;
  runTimers();
  out.pacedMs = now - before;
  receive(first, { type: "error", code: "too_many_subscriptions", message: "at most 200" });
  runTimers();
  const last = subscribes(first)[2];
  receive(first, { type: "subscribed", channel: "predictions", symbols: last.symbols });
  out.states.push(states());
  receive(first, { type: "prediction", symbol: "S000", seq: 2000, data: doc("S000", 2000) });
  first.onclose({ code: 1012, reason: "restart" });
  out.states.push(states());
  runTimers();  // the reconnect backoff elapses
  const second = sockets[1];
  second.onopen();
  receive(second, welcome);
  for (let i = 0; i < 3; i++) {
    const m = subscribes(second)[i];
    receive(second, { type: "subscribed", channel: "predictions", symbols: m.symbols });
    runTimers();
  }
  out.states.push(states());
  await tick();
  Object.assign(out, { urls: sockets.map((s) => s.url), first: first.sent, second: second.sent,
                       fetches, counts: elements.counts.textContent });
  console.log(JSON.stringify(out));
}
main();
"""


def test_the_dashboard_subscribes_in_chunks_marks_rows_on_subscribed_and_resumes(
    tmp_path: Path,
) -> None:
    html = resources.files("tickcast.bridge").joinpath("dashboard.html").read_text()
    script = tmp_path / "dashboard.js"
    script.write_text(html[html.index("<script>") + 8 : html.index("</script>")])
    harness = tmp_path / "harness.js"
    harness.write_text(FAKE_BROWSER)
    r = subprocess.run(
        ["node", str(harness), str(script)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["urls"] == ["wss://bridge.example/ws"] * 2  # no token in the URL
    assert out["first"][0] == out["second"][0] == {"type": "auth", "token": "tck_abc"}
    # one subscribe in flight, at most 200 symbols, nothing subscribed until the server says
    assert out["afterWelcome"] == [200]
    assert out["states"][0] == {"pending": 450}
    assert out["pacedSends"] == 1 and out["pacedMs"] == 50  # 20 messages per second
    subs = [m for m in out["first"] if m["type"] == "subscribe"]
    assert [len(m["symbols"]) for m in subs] == [200, 200, 50]
    assert [s for m in subs for s in m["symbols"]] == [f"S{i:03d}" for i in range(450)]
    assert all("since" not in m for m in subs)  # the first subscription takes snapshots
    assert out["states"][1] == {"subscribed": 250, "refused": 200}
    assert out["states"][2] == {"pending": 450}  # the connection is gone
    # the reconnect resumes what was subscribed from the last seq shown; the refused
    # chunk is asked again, without `since` (it never streamed)
    again = [m for m in out["second"] if m["type"] == "subscribe"]
    assert [len(m["symbols"]) for m in again] == [200, 200, 50]
    assert again[0]["since"] == {f"S{i:03d}": 2000 if i == 0 else 1000 for i in range(200)}
    assert "since" not in again[1]
    assert again[2]["since"] == {f"S{i:03d}": 1000 for i in range(400, 450)}
    assert out["states"][3] == {"subscribed": 450}
    assert out["counts"].startswith("450 symbols · 450 subscribed")
    # /v1/symbols once, across the reconnect, with the token as a header
    assert out["fetches"] == [{"url": "/v1/symbols", "auth": "Bearer tck_abc"}]


TRADES_MAIN = r"""
async function main() {
  require(process.argv[2]);
  await tick();
  const ws = sockets[0];
  ws.onopen();
  receive(ws, { ...welcome, channels: ["predictions", "bars", "alerts", "trades"] });
  for (let i = 0; i < 3; i++) {
    const m = subscribes(ws)[i];
    receive(ws, { type: "subscribed", channel: "predictions", symbols: m.symbols });
    runTimers();
  }
  const trades = subscribes(ws).filter((m) => m.channel === "trades");
  receive(ws, { type: "subscribed", channel: "trades", symbols: trades[0].symbols });
  runTimers();
  receive(ws, { type: "error", code: "too_many_subscriptions", message: "at most 500" });
  runTimers();
  const data = { symbol: "S001", last: { price: 12.5, ts: 1e18, corrected: false },
                 quote: { bid: 12.4, ask: 12.6 }, trace: {} };
  receive(ws, { type: "trade", channel: "trades", symbol: "S001", seq: 3, data });
  const row = tbody.children.find((tr) => tr.cells[0].textContent === "S001");
  console.log(JSON.stringify({
    sizes: subscribes(ws).filter((m) => m.channel === "trades").map((m) => m.symbols.length),
    sent: subscribes(ws).map((m) => m.channel),
    last: row.cells[10].textContent, close: row.cells[3].textContent,
    status: elements.status ? elements.status.textContent : "" }));
}
main();
"""


def test_the_dashboard_shows_the_live_last_trade_when_the_bridge_offers_trades(
    tmp_path: Path,
) -> None:
    html = resources.files("tickcast.bridge").joinpath("dashboard.html").read_text()
    script = tmp_path / "dashboard.js"
    script.write_text(html[html.index("<script>") + 8 : html.index("</script>")])
    fake = FAKE_BROWSER[: FAKE_BROWSER.index("async function main()")]
    fake = fake.replace("length: 10 }", "length: 11 }")
    harness = tmp_path / "harness.js"
    harness.write_text(fake + TRADES_MAIN)
    r = subprocess.run(
        ["node", str(harness), str(script)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # predictions first (3 chunks), then trades for the same rows; a refused trades
    # chunk stops the live prices only: no error on the page, predictions untouched
    assert out["sent"] == ["predictions"] * 3 + ["trades"] * 2
    assert out["sizes"] == [200, 200]
    assert out["last"] == "12.50 (12.40/12.60)"
    assert out["close"] == "1.00"
    assert not out["status"].startswith("error")
