"""The vendor protocols message by message (sans-I/O), the ordering key, the backoff
and the connector's settings."""

from __future__ import annotations

import random

import orjson
import pytest
from feedkit import settings

from tickcast.errors import ConfigError
from tickcast.feeds.alpaca import Alpaca
from tickcast.feeds.backoff import Backoff
from tickcast.feeds.fakes import alpaca_trade, polygon_trade, yahoo_frame
from tickcast.feeds.polygon import Polygon
from tickcast.feeds.protocol import Fatal, Retry, ordering_key, shard
from tickcast.feeds.settings import FeedSettings
from tickcast.feeds.yahoo import Yahoo


def j(obj: object) -> bytes:
    return orjson.dumps(obj)


# -- Alpaca -------------------------------------------------------------------------------


def test_alpaca_handshake_follows_the_documented_flow() -> None:
    p = Alpaca(settings("alpaca", "", channels="trades,quotes"))
    assert p.url() == "wss://stream.data.alpaca.markets/v2/iex"
    assert p.start().send == []  # the client waits for the welcome message
    step = p.receive(j([{"T": "success", "msg": "connected"}]))
    assert [orjson.loads(m) for m in step.send] == [
        {"action": "auth", "key": "key", "secret": "secret"}
    ]
    step = p.receive(j([{"T": "success", "msg": "authenticated"}]))
    assert [orjson.loads(m) for m in step.send] == [
        {"action": "subscribe", "trades": ["AAPL", "MSFT"], "quotes": ["AAPL", "MSFT"]}
    ]
    assert not step.ready and step.frame is None
    ack = {"T": "subscription", "trades": ["AAPL", "MSFT"], "quotes": ["AAPL", "MSFT"], "bars": []}
    step = p.receive(j([ack]))
    assert step.ready and step.frame is None and step.note is None


def test_alpaca_urls() -> None:
    assert Alpaca(settings("alpaca", "", stream="sip")).url().endswith("/v2/sip")
    assert Alpaca(settings("alpaca", "", stream="crypto")).url() == (
        "wss://stream.data.alpaca.markets/v1beta3/crypto/us"
    )
    assert Alpaca(settings("alpaca", "ws://127.0.0.1:1/")).url() == "ws://127.0.0.1:1/"


def test_alpaca_data_frame_is_passed_through_byte_for_byte() -> None:
    p = Alpaca(settings("alpaca", ""))
    p.start()
    # Not orjson's own spelling: spaces and key order must survive.
    raw = (
        b'[{"T": "t", "S": "AAPL", "p": 1.5, "s": 1, "t": "2024-01-02T15:00:00Z"},'
        + j(alpaca_trade("MSFT", 2, 2, "2024-01-02T15:00:00Z"))
        + b"]"
    )
    step = p.receive(raw)
    assert step.frame is raw
    assert step.symbols == ("AAPL", "MSFT")
    # A frame that is not even JSON is still published: ingest dead-letters it, bytes kept.
    assert p.receive(b"[{oops").frame == b"[{oops"


@pytest.mark.parametrize("code", [400, 402, 405, 408, 409, 410])
def test_alpaca_errors_a_reconnect_cannot_fix_are_fatal(code: int) -> None:
    p = Alpaca(settings("alpaca", ""))
    p.start()
    with pytest.raises(Fatal) as exc:
        p.receive(j([{"T": "error", "code": code, "msg": "x"}]))
    assert exc.value.reason == f"alpaca_{code}"


def test_alpaca_connection_limit_is_retried_after_the_floor() -> None:
    p = Alpaca(settings("alpaca", "", limit_backoff_s=42))
    p.start()
    with pytest.raises(Retry) as exc:
        p.receive(j([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]))
    assert exc.value.min_delay_s == 42


@pytest.mark.parametrize("code", [401, 403, 404, 500, 999])
def test_alpaca_other_errors_reconnect(code: int) -> None:
    p = Alpaca(settings("alpaca", ""))
    p.start()
    with pytest.raises(Retry) as exc:
        p.receive(j([{"T": "error", "code": code, "msg": "x"}]))
    assert exc.value.min_delay_s == 0


def test_alpaca_slow_client_is_noted_and_reading_goes_on() -> None:
    p = Alpaca(settings("alpaca", ""))
    p.start()
    step = p.receive(j([{"T": "error", "code": 407, "msg": "slow client"}]))
    assert step.note and "407" in step.note and step.frame is None


def test_alpaca_incomplete_acknowledgement_is_noted() -> None:
    p = Alpaca(settings("alpaca", ""))
    p.start()
    step = p.receive(j([{"T": "subscription", "trades": ["AAPL"]}]))
    assert step.ready and step.note and "trades:MSFT" in step.note


# -- Polygon ------------------------------------------------------------------------------


def test_polygon_handshake_follows_the_documented_flow() -> None:
    p = Polygon(settings("polygon", "", channels="T,AM"))
    assert p.url() == "wss://socket.polygon.io/stocks"
    p.start()
    step = p.receive(j([{"ev": "status", "status": "connected", "message": "Connected"}]))
    assert [orjson.loads(m) for m in step.send] == [{"action": "auth", "params": "key"}]
    step = p.receive(j([{"ev": "status", "status": "auth_success", "message": "authenticated"}]))
    assert [orjson.loads(m) for m in step.send] == [
        {"action": "subscribe", "params": "T.AAPL,T.MSFT,AM.AAPL,AM.MSFT"}
    ]
    # One acknowledgement per channel: subscribed only once all are in.
    for i, param in enumerate(["T.AAPL", "T.MSFT", "AM.AAPL", "AM.MSFT"]):
        step = p.receive(
            j([{"ev": "status", "status": "success", "message": f"subscribed to: {param}"}])
        )
        assert step.ready == (i == 3)


def test_polygon_one_acknowledgement_for_the_list() -> None:
    p = Polygon(settings("polygon", ""))
    p.start()
    msg = "subscribed to: T.AAPL,T.MSFT"
    assert p.receive(j([{"ev": "status", "status": "success", "message": msg}])).ready


def test_polygon_auth_failed_is_fatal_and_max_connections_waits() -> None:
    p = Polygon(settings("polygon", "", limit_backoff_s=7))
    p.start()
    with pytest.raises(Fatal):
        p.receive(
            j([{"ev": "status", "status": "auth_failed", "message": "authentication failed"}])
        )
    with pytest.raises(Retry) as exc:
        p.receive(j([{"ev": "status", "status": "max_connections", "message": "Maximum..."}]))
    assert exc.value.min_delay_s == 7


def test_polygon_symbols_of_stocks_crypto_and_forex() -> None:
    p = Polygon(settings("polygon", "", stream="crypto"))
    assert p.cfg.channel_list == ("XT",)
    assert p.url() == "wss://socket.polygon.io/crypto"
    p.start()
    raw = j(
        [
            polygon_trade("AAPL", 1, 1, 1_700_000_000_000),
            {"ev": "XT", "pair": "BTC-USD", "p": 1.0, "s": 1, "t": 1, "x": 1},
            {"ev": "C", "p": "USD/CNH", "a": 7.1, "b": 7.0, "t": 1},
            {"ev": "status", "status": "success", "message": "subscribed to: XT.BTC-USD"},
        ]
    )
    step = p.receive(raw)
    assert step.frame is raw
    assert step.symbols == ("AAPL", "BTC-USD", "USD/CNH")


# -- Yahoo --------------------------------------------------------------------------------


def test_yahoo_subscribes_on_open_and_keys_each_frame_by_its_symbol() -> None:
    p = Yahoo(settings("yahoo", "", symbols="AAPL,BTC-USD"))
    assert p.url() == "wss://streamer.finance.yahoo.com/?version=2"
    start = p.start()
    assert start.ready and [orjson.loads(m) for m in start.send] == [
        {"subscribe": ["AAPL", "BTC-USD"]}
    ]
    assert p.keepalive() == start.send and p.keepalive_s == 15.0
    raw = yahoo_frame("BTC-USD", 94745.08, 1_700_000_000_000)
    step = p.receive(raw)
    assert step.frame is raw and step.symbols == ("BTC-USD",)
    bare = orjson.loads(raw)["message"].encode()  # the legacy bare base64 frame
    assert p.receive(bare).symbols == ("BTC-USD",)


def test_yahoo_heartbeats_are_not_published_and_garbage_is() -> None:
    from tickcast.ingest.formats.yahoo_pricing_pb2 import PricingData

    p = Yahoo(settings("yahoo", "", symbols="AAPL"))
    p.start()
    hb = PricingData(id="AAPL", quote_type=PricingData.HEARTBEAT).SerializeToString()
    import base64

    step = p.receive(j({"type": "pricing", "message": base64.b64encode(hb).decode()}))
    assert step.frame is None and step.control == "heartbeat"
    assert p.receive(b"not base64 !!").frame == b"not base64 !!"
    assert p.receive(j({"type": "other"})).frame is None


# -- ordering key -------------------------------------------------------------------------


def test_shards_are_stable_across_processes_and_aliases() -> None:
    # crc32 is fixed (Python's str hash is salted per process).
    assert shard("AAPL", 16) == shard("aapl", 16) == 0xB665575C % 16
    assert shard("BTC/USD", 64) == shard("X:BTCUSD", 64) == shard("BTC-USD", 64)
    assert ordering_key("alpaca", ["AAPL"], 16) == (f"alpaca-{0xB665575C % 16}", False)
    assert ordering_key("alpaca", [], 16) == ("alpaca-0", False)
    assert ordering_key("x", ["AAPL", "MSFT"], 1) == ("x-0", False)


def test_a_frame_across_shards_takes_its_first_symbols_key() -> None:
    a, b = (
        "AAPL",
        next(s for s in ("MSFT", "IBM", "TSLA", "NVDA") if shard(s, 16) != shard("AAPL", 16)),
    )
    key, mixed = ordering_key("alpaca", [a, b, a], 16)
    assert key == f"alpaca-{shard(a, 16)}" and mixed
    assert ordering_key("alpaca", [a, a], 16) == (f"alpaca-{shard(a, 16)}", False)


# -- backoff ------------------------------------------------------------------------------


def test_full_jitter_backoff_grows_is_capped_floored_and_resets() -> None:
    b = Backoff(1.0, 8.0, rng=random.Random(7))
    ceilings = []
    for _ in range(6):
        ceilings.append(b.ceiling())
        delay = b.next()
        assert 0 <= delay <= ceilings[-1]
    assert ceilings == [1, 2, 4, 8, 8, 8]
    assert b.next(floor_s=30) == 30
    b.reset()
    assert b.ceiling() == 1
    b.attempt = 10_000  # no overflow
    assert b.ceiling() == 8


# -- settings -----------------------------------------------------------------------------


def test_settings_name_the_variable_to_fix() -> None:
    with pytest.raises(ConfigError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        FeedSettings.from_env("alpaca", {"TICKCAST_FEED_SYMBOLS": "AAPL"})
    with pytest.raises(ConfigError, match="TICKCAST_FEED_SYMBOLS"):
        FeedSettings.from_env("polygon", {"POLYGON_API_KEY": "k"})
    with pytest.raises(ConfigError, match="TICKCAST_FEED_CHANNELS"):
        settings("alpaca", "", channels="trade")
    with pytest.raises(ConfigError, match="lulds"):  # ingest would dead-letter every one
        settings("alpaca", "", channels="trades,lulds")
    with pytest.raises(ConfigError, match="TICKCAST_FEED_SHARDS"):
        settings("alpaca", "", shards=0)
    with pytest.raises(ConfigError, match="wildcard"):
        settings("yahoo", "", symbols="*")


def test_flags_override_the_environment_and_secrets_stay_secret() -> None:
    env = {
        "TICKCAST_FEED_SYMBOLS": "AAPL",
        "APCA_API_KEY_ID": "id-123",
        "APCA_API_SECRET_KEY": "s3cret-456",
    }
    cfg = FeedSettings.from_env("alpaca", env, symbols="MSFT, TSLA", port=9)
    assert cfg.symbols == ("MSFT", "TSLA") and cfg.port == 9 and cfg.feed_name == "alpaca"
    text = repr(cfg) + cfg.model_dump_json()
    assert "s3cret-456" not in text and "id-123" not in text


def test_the_settings_table_in_docs_is_current() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs" / "FEEDS.md"
    assert FeedSettings.markdown_table() in docs.read_text(encoding="utf-8"), (
        "regenerate the table in docs/FEEDS.md from FeedSettings.markdown_table()"
    )
