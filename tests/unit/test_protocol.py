from __future__ import annotations

import pytest

from tickcast.bridge.protocol import ProtocolError, RequestPrediction, Subscribe, parse


def test_the_contract_messages_parse_exactly_as_written() -> None:
    sub = parse('{"type":"subscribe","channel":"predictions","symbol":"AAPL"}')
    assert (
        isinstance(sub, Subscribe) and sub.symbol_list == ["AAPL"] and sub.channel == "predictions"
    )
    req = parse(
        '{"type":"request_prediction","symbol":"AAPL","options":{"horizon":"1d","confidence":0.95,"model":"ensemble"}}'
    )
    assert isinstance(req, RequestPrediction)
    assert (req.options.horizon, req.options.confidence, req.options.model) == (
        "1d",
        0.95,
        "ensemble",
    )


def test_symbols_list_and_since() -> None:
    sub = parse('{"type":"subscribe","symbols":["AAPL","MSFT","AAPL"],"since":{"AAPL":5}}')
    assert (
        isinstance(sub, Subscribe)
        and sub.symbol_list == ["AAPL", "MSFT"]
        and sub.since == {"AAPL": 5}
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"symbol":"AAPL"}', "unknown_type"),
        ("[1,2]", "invalid_message"),
        ('{"type":"subscribe","symbol":"aapl!"}', "invalid_message"),
        ('{"type":"subscribe","symbol":"AAPL","symbols":["MSFT"]}', "invalid_message"),
        ('{"type":"subscribe","channel":"gossip","symbol":"AAPL"}', "invalid_message"),
        (
            '{"type":"request_prediction","symbol":"AAPL","options":{"confidence":2}}',
            "invalid_message",
        ),
    ],
)
def test_bad_client_messages_get_a_stable_code(raw: str, code: str) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse(raw)
    assert exc.value.code == code and exc.value.message
