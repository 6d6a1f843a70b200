"""The dashboard's client logic, run in Node with a fake browser: it sends the
token from the URL fragment as the first message, and after the bridge closes
with 1012 it reconnects and resubscribes with `since` = the last seq it showed."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

FAKE_BROWSER = r"""
const sockets = [], timers = [], fetches = [];
class Cell { constructor() { this.textContent = ""; this.className = "";
  this.firstChild = { width: 120, height: 24, getContext: () => ({
    clearRect() {}, beginPath() {}, lineTo() {}, moveTo() {}, stroke() {} }) }; } }
class Row { constructor() { this.cells = Array.from({ length: 9 }, () => new Cell()); } }
const tbody = { children: [], insertBefore(tr) { this.children.push(tr); } };
global.document = {
  createElement: () => new Row(),
  getElementById: (id) => (id === "rows" ? tbody : (global[id] = global[id] || new Cell())),
};
global.location = { protocol: "https:", host: "bridge.example", hash: "#token=tck_abc", search: "" };
global.setTimeout = (fn, ms) => timers.push(fn);
global.fetch = async (url, opts) => {
  fetches.push({ url, auth: opts.headers.Authorization });
  return { json: async () => [{ symbol: "AAPL" }] };
};
global.WebSocket = class {
  static OPEN = 1;
  constructor(url) { this.url = url; this.sent = []; this.readyState = 1; sockets.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
};
const frame = (type, seq) => ({ data: JSON.stringify({ type, symbol: "AAPL", seq,
  data: { symbol: "AAPL", seq, bar: { c: 1 }, prediction: null, trace: {} } }) });
async function main() {
  require(process.argv[2]);
  const first = sockets[0];
  first.onopen();
  await new Promise((r) => setImmediate(r));
  first.onmessage(frame("snapshot", 1000));
  first.onmessage(frame("prediction", 2000));
  first.onclose({ code: 1012, reason: "restart" });
  timers.pop()();  // the reconnect backoff elapses
  const second = sockets[1];
  second.onopen();
  await new Promise((r) => setImmediate(r));
  console.log(JSON.stringify({ urls: sockets.map((s) => s.url), first: first.sent,
                               second: second.sent, fetches }));
}
main();
"""


def test_the_dashboard_authenticates_by_message_and_resumes_with_since(tmp_path: Path) -> None:
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
    assert out["first"] == [
        {"type": "auth", "token": "tck_abc"},
        {"type": "subscribe", "channel": "predictions", "symbols": ["AAPL"]},
    ]
    assert out["second"] == [
        {"type": "auth", "token": "tck_abc"},
        {
            "type": "subscribe",
            "channel": "predictions",
            "symbols": ["AAPL"],
            "since": {"AAPL": 2000},
        },
    ]
    assert {f["auth"] for f in out["fetches"]} == {"Bearer tck_abc"}
