"""Admission counts, the message token bucket and the origin allowlist."""

from __future__ import annotations

import pytest

from tickcast.bridge.admission import Admission, TokenBucket
from tickcast.bridge.origins import origin_allowed
from tickcast.bridge.principal import Limits, Principal, entitlements


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_bucket_allows_a_burst_of_one_second_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(5, clock)
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2
    clock.t += 0.4  # two tokens back
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.t += 100
    assert sum(bucket.take() for _ in range(10)) == 5  # never more than one second saved


def test_connection_and_subscription_limits_are_per_credential() -> None:
    a = Principal("key:a", "a", "api_key", None, Limits(2, 3, 10))
    b = Principal("key:b", "b", "api_key", None, Limits(1, 3, 10))
    adm = Admission()
    assert [adm.connect(a), adm.connect(a), adm.connect(a)] == [True, True, False]
    assert adm.connect(b) and not adm.connect(b)
    assert adm.subscribe(a, 2) and not adm.subscribe(a, 2) and adm.subscribe(a, 1)
    adm.disconnect(a, 3)
    assert adm.connect(a) and adm.subscribe(a, 3)
    assert dict(adm.connections) == {"key:a": 2, "key:b": 1}


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (None, (), True),  # not a browser
        ("https://bridge.example", (), True),  # the bridge's own dashboard
        ("https://evil.example", (), False),
        ("https://app.example", ("https://app.example",), True),
        ("https://app.example/", ("https://app.example",), True),
        ("https://evil.example", ("https://app.example",), False),
        ("https://evil.example", ("*",), True),
    ],
)
def test_origins(origin: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, "bridge.example", allowed) is ok


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        (["*"], None),
        ("*", None),
        (["AAPL", "MSFT"], frozenset({"AAPL", "MSFT"})),
        (["BTC/USD", "X:ETHUSD", "aapl"], frozenset({"BTC-USD", "ETH-USD", "AAPL"})),
        ([], frozenset()),
        (42, frozenset()),  # garbage grants nothing
    ],
)
def test_entitlements(raw: object, expected: frozenset[str] | None) -> None:
    assert entitlements(raw) == expected
