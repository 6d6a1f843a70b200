"""state() / from_state(): small JSON records that restore bit-identical indicators.

Outputs are compared by ``repr``, which is exact for floats (and tells -0.0 from 0.0).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tickcast.indicators as ind
from tickcast.indicators import (
    ATR,
    EMA,
    MACD,
    REGISTRY,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    Indicator,
    LogReturn,
    RealizedVolatility,
    ZScore,
)

# name -> (factory, how one input step is fed from a price)
Feed = Callable[[Any, float, random.Random], Any]


def _one(i: Any, price: float, _: random.Random) -> Any:
    return i.update(price)


def _bar(i: Any, price: float, rng: random.Random) -> Any:
    return i.update(price * (1 + rng.random() * 0.01), price * (1 - rng.random() * 0.01), price)


def _trade(i: Any, price: float, rng: random.Random) -> Any:
    return i.update(price, float(rng.randrange(0, 500)))


CASES: dict[str, tuple[Callable[[], Indicator], Feed]] = {
    "sma": (lambda: SMA(7), _one),
    "ema": (lambda: EMA(7), _one),
    "rsi": (lambda: RSI(5), _one),
    "macd": (lambda: MACD(3, 8, 4), _one),
    "bbands": (lambda: BollingerBands(6, 2.0), _one),
    "atr": (lambda: ATR(5), _bar),
    "vwap": (VWAP, _trade),
    "log_return": (LogReturn, _one),
    "realized_vol": (lambda: RealizedVolatility(6), _one),
    "zscore": (lambda: ZScore(6), _one),
}


def test_registry_covers_every_case() -> None:
    assert set(REGISTRY) == set(CASES)
    for kind, cls in REGISTRY.items():
        assert cls.kind == kind


def _prices(rng: random.Random, n: int) -> list[float]:
    price = 100.0
    out = []
    for _ in range(n):
        price *= math.exp(rng.gauss(0.0, 0.01))
        out.append(price)
    return out


def _json_round_trip(indicator: Indicator) -> Indicator:
    record = json.loads(json.dumps(indicator.state()))
    return ind.from_state(record)


@pytest.mark.parametrize("name", sorted(CASES))
def test_restored_indicator_continues_bit_identically(name: str) -> None:
    make, feed = CASES[name]
    rng = random.Random(name)
    prices = _prices(rng, 3000)
    for split in (0, 1, 3, 5, 8, 40, 257, 1999):
        original = make()
        seeds = random.Random(split)
        for p in prices[:split]:
            feed(original, p, seeds)
        restored = _json_round_trip(original)
        assert type(restored) is type(original)
        assert restored.state() == original.state()
        twin = random.Random(0)
        again = random.Random(0)
        for p in prices[split:]:
            assert repr(feed(restored, p, again)) == repr(feed(original, p, twin))
        assert restored.state() == original.state()


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_at_every_step(name: str) -> None:
    make, feed = CASES[name]
    rng = random.Random(f"every-{name}")
    reference = make()
    hopping = make()
    for p in _prices(rng, 600):
        hopping = _json_round_trip(hopping)
        seed = rng.random()
        got = feed(hopping, p, random.Random(seed))
        assert repr(got) == repr(feed(reference, p, random.Random(seed)))


# Prices across many scales, including long flat runs (the refresh guard's territory).
_price = st.one_of(
    st.floats(min_value=1e-4, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 100.0, 10_000.0]),
)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(CASES)),
    prices=st.lists(_price, min_size=1, max_size=300),
    split_at=st.floats(min_value=0.0, max_value=1.0),
)
def test_round_trip_property(name: str, prices: list[float], split_at: float) -> None:
    make, feed = CASES[name]
    split = int(split_at * len(prices))
    original = make()
    for p in prices[:split]:
        feed(original, p, random.Random(p))
    restored = _json_round_trip(original)
    for p in prices[split:]:
        got = feed(restored, p, random.Random(p))
        assert repr(got) == repr(feed(original, p, random.Random(p)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_is_a_small_flat_json_record(name: str) -> None:
    make, feed = CASES[name]
    indicator = make()
    rng = random.Random(1)
    for p in _prices(rng, 5000):
        feed(indicator, p, rng)
    record = indicator.state()
    assert record["v"] == 1
    assert record["kind"] == name
    text = json.dumps(record, allow_nan=False)
    assert len(text) < 1000
    assert all(isinstance(v, int | float | bool | str | list | type(None)) for v in record.values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_schema_version_is_rejected(name: str) -> None:
    make, _ = CASES[name]
    record = make().state()
    record["v"] = 2
    with pytest.raises(ValueError, match=rf"unsupported {name} state schema version 2"):
        ind.from_state(record)
    with pytest.raises(ValueError, match="schema version"):
        type(make()).from_state(record)
    del record["v"]
    with pytest.raises(ValueError, match="schema version None"):
        ind.from_state(record)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown indicator kind 'wma'"):
        ind.from_state({"v": 1, "kind": "wma", "period": 3})
    with pytest.raises(ValueError, match="unknown indicator kind None"):
        ind.from_state({"v": 1})
    with pytest.raises(TypeError, match="must be a mapping"):
        ind.from_state([("v", 1)])  # type: ignore[arg-type]


def test_class_rejects_another_kinds_state() -> None:
    with pytest.raises(ValueError, match="state is for kind 'ema', not 'sma'"):
        SMA.from_state(EMA(3).state())


def _warm_sma() -> dict[str, Any]:
    sma = SMA(3)
    for x in (1.0, 2.0, 3.0, 4.0):
        sma.update(x)
    return sma.state()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("buf"), "missing field 'buf'"),
        (lambda r: r.update(extra=1), r"unexpected fields \['extra'\]"),
        (lambda r: r.update(buf=[1.0, 2.0]), "'buf' must be a list of 3 numbers"),
        (lambda r: r.update(buf=[1.0, "2", 3.0]), "'buf' must be a finite number"),
        (lambda r: r.update(sum=math.nan), "'sum' must be a finite number"),
        (lambda r: r.update(sum=True), "'sum' must be a finite number"),
        (lambda r: r.update(pos=0), r"'pos' must be an int in \[1, 3\]"),
        (lambda r: r.update(pos=True), "'pos' must be an int"),
        (lambda r: r.update(ready="yes"), "'ready' must be a bool"),
        (lambda r: r.update(period=0), r"'period' must be an int in \[1, 100000\]"),
    ],
)
def test_corrupt_records_are_rejected_with_the_field_name(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    record = _warm_sma()
    change(record)
    with pytest.raises(ValueError, match=message):
        SMA.from_state(record)


def test_integral_floats_written_as_ints_still_restore() -> None:
    record = _warm_sma()
    record["buf"] = [int(x) for x in record["buf"]]
    record["sum"] = int(record["sum"])
    restored = SMA.from_state(record)
    assert restored.update(5.0) == SMA.from_state(_warm_sma()).update(5.0)


def test_ready_state_contradicting_the_count_is_rejected() -> None:
    record = RSI(2).state()
    record["ready"] = True
    with pytest.raises(ValueError, match="'ready' contradicts 'count'"):
        RSI.from_state(record)
