"""`tickcast cost`: the price file, the model's arithmetic, and the CLI."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tickcast.deploy import cost

PRICES = Path(cost.__file__).with_name("prices.json")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tickcast")
    sub = p.add_subparsers(dest="command", required=True)
    cost.register(sub)
    return p


def report(**kw: Any) -> cost.Report:
    w = cost.Workload(
        symbols=kw.pop("symbols", 20),
        ticks_per_second=kw.pop("tps", 100.0),
        bar_seconds=kw.pop("bar", 60),
    )
    return cost.estimate(w, **kw)


def test_price_file_is_dated_and_every_price_has_a_source() -> None:
    data = json.loads(PRICES.read_text())
    assert len(data["as_of"]) == 10 and data["as_of"][4] == "-"
    assert "check" in data["note"]
    for key, entry in data["prices"].items():
        assert entry["source"].startswith("https://"), key
        assert "usd" in entry or "value" in entry, key
    assert "us-central1" in data["regions"]
    cost.Prices(data)  # loads cleanly


def test_broken_price_files_fail_with_the_key(tmp_path: Path) -> None:
    data = json.loads(PRICES.read_text())
    del data["prices"]["pubsub_throughput_tib"]["source"]
    with pytest.raises(cost.PriceError, match="pubsub_throughput_tib"):
        cost.Prices(data)
    bad = tmp_path / "p.json"
    bad.write_text("{")
    with pytest.raises(cost.PriceError):
        cost.Prices.load(bad)


def test_pubsub_is_billed_at_1000_bytes_per_request() -> None:
    r = report(tps=100.0)
    month_s = 730 * 3600
    line = next(x for x in r.per_tick.lines if x.service == "Pub/Sub")
    # Per tick, raw and ticks carry one small message each: every hop bills the 1000 B floor.
    # Each is published once and pushed once; the clock is pushed to features and predict.
    floor_gib = (2 * (100 + 100) + 3 * (1 / 60)) * 1000 * month_s / cost.GIB
    features = 2 * (20 / 60) * max(1000, 250 + 1500) * month_s / cost.GIB
    assert line.quantity == pytest.approx(floor_gib + features)
    assert line.usd == pytest.approx(line.quantity / 1024 * 40.0)


def test_batching_saves_and_only_on_per_message_costs() -> None:
    r = report()
    assert r.savings > 0
    b, n = r.batched.by_service(), r.per_tick.by_service()
    for service in ("Memorystore", "Firestore", "Cloud Run", "Other"):
        assert b[service] == pytest.approx(n[service])
    for service in ("Pub/Sub", "Functions", "Logging"):
        assert b[service] < n[service]
    assert r.batched.rates["ticks messages/s"] < r.per_tick.rates["ticks messages/s"] == 100
    # A longer feed window batches more.
    wide = cost.estimate(r.workload, cost.Assumptions(feed_window_ms=1000))
    assert wide.batched.rates["ticks messages/s"] < r.batched.rates["ticks messages/s"]
    assert wide.batched.rates["ticks messages/s"] == pytest.approx(20 * -math.expm1(-5.0))


def fs(r: cost.Report) -> float:
    return r.batched.by_service()["Firestore"]


def test_firestore_scales_with_bars_not_ticks() -> None:
    slow, fast = report(bar=60), report(bar=1)
    assert fs(fast) == pytest.approx(fs(slow) * 60, rel=1e-6)
    assert fs(report(tps=1000.0)) == pytest.approx(fs(slow))
    assert any("1 write/s" in n for n in fast.notes)


def test_redis_is_sized_for_dedupe_keys() -> None:
    # Enough ticks/s that the dedupe window's keys outgrow 1 GB.
    small, big = report(tps=1.0), report(tps=50_000.0)
    assert small.redis_gb == 1
    assert big.redis_gb_needed > small.redis_gb_needed
    under = report(tps=50_000.0, redis_gb=1)
    assert under.redis_gb == 1
    assert any("dedupe" in n for n in under.notes)
    # Bigger capacity tiers are cheaper per GB.
    p = cost.Prices.load()
    assert p.redis_gb_hour(1) > p.redis_gb_hour(50)


def test_region_tier_and_free_tier() -> None:
    base = report()
    tier2 = cost.estimate(replace(base.workload, region="europe-west2"))
    assert tier2.batched.by_service()["Functions"] > base.batched.by_service()["Functions"]
    free = report(free_tier=True)
    assert free.batched.total < base.batched.total
    with pytest.raises(cost.PriceError, match="no prices for region"):
        cost.estimate(replace(base.workload, region="mars-1"))


def test_table_and_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(
        ["cost", "--symbols", "20", "--ticks-per-second", "100", "--bar-seconds", "60"]
    )
    assert args.func(args) == 0
    table = capsys.readouterr().out
    assert "20 symbols, 100 ticks/s, 60 s bars, us-central1" in table
    assert "Per-symbol batching vs one message per tick" in table
    assert "check them" in table

    args = parser().parse_args(["cost", "--symbols", "20", "--ticks-per-second", "100", "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["batched"]["total_usd"] == pytest.approx(
        sum(x["usd"] for x in data["batched"]["lines"])
    )
    assert data["batching_saves_usd"] == pytest.approx(
        data["per_tick"]["total_usd"] - data["batched"]["total_usd"]
    )
    assert data["prices_as_of"] == json.loads(PRICES.read_text())["as_of"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--symbols", "0", "--ticks-per-second", "1"],
        ["--symbols", "x", "--ticks-per-second", "1"],
        ["--symbols", "2", "--ticks-per-second", "-1"],
        ["--symbols", "2", "--ticks-per-second", "nan"],
        ["--symbols", "2", "--ticks-per-second", "1", "--bar-seconds", "0"],
        ["--symbols", "2", "--ticks-per-second", "1", "--bar-seconds", "90000"],
        ["--symbols", "2", "--ticks-per-second", "1", "--redis-gb", "301"],
        ["--symbols", "2"],
    ],
)
def test_bad_arguments_exit_non_zero_with_one_error_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["cost", *argv])
    assert exc.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1
