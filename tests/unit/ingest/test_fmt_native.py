"""tickcast's own normalised JSON (src/tickcast/ingest/formats/native.py documents it)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from tickcast.ingest.formats import Parsed

Parse = Callable[..., Parsed]
Vendor = Callable[[str], bytes]


def test_single_tick(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("tickcast/tick.json"))
    assert out.format == "tickcast"
    [(sym, t)] = out.ticks
    assert (sym, t.ts, t.price, t.size) == ("AAPL", 1_614_009_104_208_123_456, 126.55, 1.0)
    assert (t.conditions, t.exchange, t.source) == (("@", "I"), "D", "tickcast")
    assert t.id.startswith("tickcast:t:AAPL:")


def test_content_id_ignores_key_order(wide: Parse) -> None:
    a = wide(b'{"symbol":"AAPL","ts":1614009104208123456,"price":1.5,"size":2}').ticks[0][1]
    b = wide(b'{"size":2, "price":1.5, "ts":1614009104208123456, "symbol":"aapl"}').ticks[0][1]
    assert a.id == b.id


def test_ticks_message(wide: Parse, vendor: Vendor) -> None:
    out = wide(vendor("tickcast/ticks_message.json"))
    assert [(s, t.kind) for s, t in out.ticks] == [("AMD", "quote"), ("AMD", "bar")]
    quote, bar = (t for _, t in out.ticks)
    assert quote.id == "alpaca:q:AMD:1"  # a given id is kept
    assert quote.source == "alpaca"
    assert (bar.bar_s, bar.trades, bar.open) == (60, 461, 388.985)


def test_bad_ticks_in_a_message_are_rejected_one_by_one(wide: Parse, vendor: Vendor) -> None:
    msg = orjson.loads(vendor("tickcast/ticks_message.json"))
    msg["ticks"].append({"ts": 1614009105335689322, "price": 1.0, "colour": "red"})
    msg["ticks"].append(
        {"ts": 1614009105335689322, "price": 2.0, "kind": "quote", "bid": 3.0, "ask": 2.0}
    )
    out = wide(orjson.dumps(msg))
    assert len(out.ticks) == 2
    assert [r.reason for r in out.rejected] == ["invalid_message", "crossed_quote"]
    assert "colour" in out.rejected[0].error
    assert orjson.loads(out.rejected[1].raw)["bid"] == 3.0


def test_ts_must_be_integer_nanoseconds(wide: Parse) -> None:
    [rej] = wide(b'{"symbol":"AAPL","ts":1614009104.2,"price":1}').rejected
    assert rej.reason == "invalid_message"
    assert "ts" in rej.error


def test_cancel_and_correct_ticks_without_an_id(wide: Parse) -> None:
    """The v1 extension (schema.Tick: kinds cancel/correct, seq, flags, ref, revision)
    passes through a publisher's own ticks; a missing id is hashed for every kind (a kind
    without an id prefix used to raise KeyError: a retry loop, not a tick)."""
    body = orjson.dumps(
        {
            "v": 1,
            "symbol": "btc/usd",
            "ticks": [
                {"ts": 1614009104208123456, "price": 1.5, "size": 2, "kind": "cancel", "ref": "k"},
                {
                    "ts": 1614009104208123457,
                    "price": 1.6,
                    "kind": "correct",
                    "ref": "k",
                    "flags": 4,
                },
                {"ts": 1614009104208123458, "price": 1.6, "seq": 7, "flags": 0},
            ],
        }
    )
    out = wide(body)
    assert not out.rejected
    assert [(s, t.kind, t.id.split(":")[1]) for s, t in out.ticks] == [
        ("BTC-USD", "cancel", "x"),
        ("BTC-USD", "correct", "c"),
        ("BTC-USD", "trade", "t"),
    ]
    assert [(t.ref, t.flags, t.seq) for _, t in out.ticks] == [
        ("k", None, None),
        ("k", 4, None),
        (None, 0, 7),
    ]
