"""`tickcast backfill` against a real redis-server, with Polygon flat files in S3 (moto):
after a backfill the first live bar already has ready indicators, equal to processing
history and live bars in one go."""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from typing import Any

import pytest

from tickcast import cli
from tickcast.config import Settings
from tickcast.features.stage import apply_ticks
from tickcast.features.vector import FeatureSet
from tickcast.schema import Bar, FeaturesMessage, Tick, TicksMessage

pytestmark = pytest.mark.emulator
S = 1_000_000_000
MIN = 60 * S
T0 = 1_709_821_800 * S  # 2024-03-07 14:30 UTC
HEADER = "ticker,volume,open,close,high,low,window_start,transactions\n"
PREFIX = "s3://flatfiles/us_stocks_sip/minute_aggs_v1/"


def close(i: int) -> float:
    return round(100 + 5 * math.sin(i / 7) + i * 0.01, 4)


def history(sym: str, bars: int) -> list[Bar]:
    return [
        Bar(
            t=(T0 + i * MIN) // 1_000_000,
            o=close(i) - 0.1,
            h=close(i) + 0.5,
            l=close(i) - 0.5,
            c=close(i),
            v=1000 + i,
            vwap=close(i),
            n=10,
        )
        for i in range(bars)
    ]


@pytest.fixture
def env(backends: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A backfill into the session's redis-server: `tickcast backfill` reads the environment."""
    env = {
        "TICKCAST_BAR_SECONDS": "60",
        "TICKCAST_REDIS_URL": f"redis://127.0.0.1:{backends.redis_port}/5",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Settings.from_env({**backends.env, **env})


@pytest.fixture
def s3(env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """`env` plus an in-process S3 with the bucket. moto is a dev dependency: without
    it these tests error, never skip (the local-CSV test needs no S3 and uses `env`)."""
    import boto3
    import moto

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        boto3.client("s3").create_bucket(Bucket="flatfiles")
        yield env


def upload(bars_by_symbol: dict[str, list[Bar]]) -> None:
    import boto3

    rows = "".join(
        f"{sym},{b.v},{b.o},{b.c},{b.h},{b.l},{b.t * 1_000_000},{b.n}\n"
        for sym, bars in bars_by_symbol.items()
        for b in bars
    )
    boto3.client("s3").put_object(
        Bucket="flatfiles",
        Key="us_stocks_sip/minute_aggs_v1/2024/03/2024-03-07.csv.gz",
        Body=gzip.compress((HEADER + rows).encode()),
    )


def live_bar(s: Settings, sym: str, minute: int, prices: list[float]) -> list[FeaturesMessage]:
    """Trades inside `minute`, then one past its end + grace, which closes it."""
    start = T0 + minute * MIN
    ticks = [
        Tick(ts=start + (k + 1) * S, price=p, size=10, id=f"{sym}-{minute}-{k}")
        for k, p in enumerate(prices)
    ]
    out = apply_ticks(s, TicksMessage(symbol=sym, ticks=tuple(ticks), batch=f"m{minute}"))
    nxt = Tick(
        ts=start + MIN + (s.bar_grace_ms + 1) * 1_000_000,
        price=prices[-1],
        size=1,
        id=f"{sym}-{minute}-next",
    )
    out += apply_ticks(s, TicksMessage(symbol=sym, ticks=(nxt,), batch=f"m{minute}-next"))
    return [FeaturesMessage.model_validate_json(m) for m in out]


def test_first_live_bar_is_ready_after_backfill_and_equals_one_pass(
    s3: Settings, symbol: str, capsys: Any
) -> None:
    hist = history(symbol, 60)
    cold = symbol + "C"
    upload({symbol: hist, "OTHER": history("OTHER", 3)})

    assert cli.main(["backfill", PREFIX, "--symbols", symbol]) == 0
    report = capsys.readouterr().out
    assert f"{symbol:<10} {60:>9} {60:>7}" in report and "state written" in report

    got = live_bar(s3, symbol, 60, [101.0, 103.0, 102.0])
    assert [m.seq for m in got] == [(T0 + 61 * MIN) // 1_000_000]
    first = got[0]
    assert first.ready and first.reason is None
    # The same bars in one pass through the features code give the same vector.
    one_pass = FeatureSet()
    for bar in [*hist, first.bar]:
        expected, ready, _ = one_pass.update(bar)
    assert ready and first.features == expected
    assert first.features["sma_10"] == pytest.approx(
        (sum(b.c for b in hist[-9:]) + 102.0) / 10, rel=1e-12
    )
    # Without a backfill, a symbol's first live bar is not ready.
    cold_first = live_bar(s3, cold, 60, [101.0, 102.0])[0]
    assert not cold_first.ready and cold_first.reason


def test_existing_state_needs_replace_and_short_history_exits_1(
    s3: Settings, symbol: str, capsys: Any
) -> None:
    upload({symbol: history(symbol, 60), symbol + "S": history(symbol, 5)})
    assert cli.main(["backfill", PREFIX, "--symbols", symbol]) == 0
    assert cli.main(["backfill", PREFIX, "--symbols", symbol]) == 2
    assert f"feature state exists for {symbol}; pass --replace" in capsys.readouterr().err
    assert cli.main(["backfill", PREFIX, "--symbols", symbol, "--replace"]) == 0
    capsys.readouterr()
    assert cli.main(["backfill", PREFIX, "--symbols", symbol + "S", "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "not enough history to be ready" in out and "dry run: nothing written" in out


def test_local_csv_and_bad_arguments(
    env: Settings, symbol: str, tmp_path: Any, capsys: Any
) -> None:
    f = tmp_path / "h.csv"
    f.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"{b.t},{b.o},{b.h},{b.l},{b.c},{b.v}\n" for b in history(symbol, 40))
    )
    assert cli.main(["backfill", str(f), "--symbol", symbol]) == 0
    assert live_bar(env, symbol, 40, [100.0])[0].ready
    for argv, msg in [
        (["backfill", str(tmp_path / "missing.csv")], "no such file"),
        (["backfill", "s3://Bad_Bucket/x"], "not an S3 URL"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["backfill", PREFIX, "--from", "March"])
    assert exc.value.code == 2
