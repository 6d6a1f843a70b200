"""Issue 17 end to end: `tickcast feed alpaca` (a process) holds the local fake
Alpaca's WebSocket and publishes to tickcast-raw -> ingest -> tickcast-ticks ->
the bridge's own trades subscription -> a WebSocket client subscribed to channel
`trades` receives the last trade, with its trace; a symbol it did not subscribe to
never reaches it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from tickcast.feeds.fakes import FakeAlpaca, Threaded, alpaca_trade
from tickcast.local.processes import free_port
from tickcast.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
TICKCAST = str(Path(sys.executable).parent / "tickcast")
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> Iterator[LocalStack]:
    with local_stack("e2e-feed", redis_db=2, vwap_anchor=None) as st:
        yield st


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_live_alpaca_trade_reaches_a_trades_subscriber(stack: LocalStack, tmp_path: Path) -> None:
    env = stack.env()
    log = tmp_path / "feed.log"
    with Threaded(FakeAlpaca, key="kid", secret="sec") as fake:
        proc = subprocess.Popen(
            [TICKCAST, "feed", "alpaca", "--symbols", "AAPL,MSFT", "--host", "127.0.0.1"],
            env={
                **os.environ,
                **env,
                "PORT": str(free_port()),
                "APCA_API_KEY_ID": "kid",
                "APCA_API_SECRET_KEY": "sec",
                "TICKCAST_FEED_URL": fake.url,
            },
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        try:
            fake.wait_subscribed(30)

            async def scenario() -> dict[str, Any]:
                async with websockets.connect(env["TICKCAST_WS_URL"]) as ws:
                    assert "trades" in orjson.loads(await ws.recv())["channels"]
                    await ws.send(
                        orjson.dumps(
                            {"type": "subscribe", "channel": "trades", "symbol": "AAPL"}
                        ).decode()
                    )
                    assert orjson.loads(await ws.recv())["type"] == "subscribed"
                    # The bridge opens its subscription in the background: trade until
                    # one arrives (those before it existed are not for it to see).
                    deadline = time.monotonic() + 60
                    i = 0
                    while time.monotonic() < deadline:
                        i += 1
                        other = alpaca_trade("MSFT", 400.0 + i, 10_000 + i, now_rfc3339())
                        mine = alpaca_trade("AAPL", 190.0 + i, i, now_rfc3339())
                        fake.push(orjson.dumps([other, mine]))
                        try:
                            msg = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=0.5))
                        except TimeoutError:
                            continue
                        if msg["type"] in ("trade", "snapshot"):
                            return dict(msg)
                    raise AssertionError("no trades frame within 60 s")

            got = asyncio.run(scenario())
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(20)
            finally:
                if proc.poll() is None:
                    proc.kill()
    assert code == 0, log.read_text()[-2000:]
    assert (got["channel"], got["symbol"]) == ("trades", "AAPL")
    last = got["data"]["last"]
    assert last["price"] > 190.0 and last["exchange"] == "V"
    assert {"event", "ingest", "bridge"} <= got["data"]["trace"].keys()


def test_demo_with_alpaca_keys_runs_the_connector_and_says_so(
    stack_ports: Any, tmp_path: Path
) -> None:
    """`tickcast demo --feed alpaca --symbols ...` with keys set: the live path (the
    vendor is the local fake, through TICKCAST_FEED_URL), not the replay."""
    ports = stack_ports()
    flags = [f"--{name}-port={getattr(ports, name)}" for name in ports.__dataclass_fields__]
    with Threaded(FakeAlpaca, key="kid", secret="sec") as fake:
        r = subprocess.run(
            [
                TICKCAST,
                "demo",
                "--feed",
                "alpaca",
                "--symbols",
                "ZDEMO",
                "--duration",
                "6",
                "--state-dir",
                str(tmp_path),
                "--project",
                "tickcast-e2e-demo",
                *flags,
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "APCA_API_KEY_ID": "kid",
                "APCA_API_SECRET_KEY": "sec",
                "TICKCAST_FEED_URL": fake.url,
            },
            capture_output=True,
            text=True,
            timeout=180,
        )
        subscribed = fake.fake is not None and fake.fake.connections >= 1
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "LIVE from alpaca" in r.stdout and "falling back" not in r.stdout
    assert subscribed, "the connector never reached the vendor"
    assert (tmp_path / "logs" / "feed-alpaca.log").exists()
