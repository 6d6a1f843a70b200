"""`tickcast demo --feed VENDOR --symbols ...`: live when the vendor's keys are set,
otherwise the replayed real data, saying which; bad arguments are one-line errors
before anything starts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tickcast import cli, demo
from tickcast.local import cli as local_cli
from tickcast.local.stack import StackError

KEYS = {"APCA_API_KEY_ID": "PK123", "APCA_API_SECRET_KEY": "s3cret"}


def test_with_alpaca_keys_the_demo_runs_the_connector() -> None:
    p = demo.plan("alpaca", "AAPL, MSFT,AAPL", KEYS)
    assert (p.live, p.feed, p.symbols) == (True, "alpaca", ("AAPL", "MSFT"))
    assert "LIVE from alpaca" in p.message and "AAPL, MSFT" in p.message


def test_without_keys_it_falls_back_to_the_replay_and_says_which_key_is_missing() -> None:
    p = demo.plan("alpaca", "AAPL,MSFT", {"APCA_API_KEY_ID": "PK123"})
    assert not p.live
    assert "APCA_API_SECRET_KEY not set" in p.message
    assert "falling back to the replayed real data" in p.message
    assert not demo.plan("polygon", "AAPL", KEYS).live  # Alpaca's keys are not Polygon's
    assert demo.plan("yahoo", "AAPL", {}).live  # the public streamer needs none
    assert "replayed real data" in demo.plan(None, None, KEYS).message


@pytest.mark.parametrize(
    ("feed", "symbols", "error"),
    [
        (None, "AAPL", "--symbols needs --feed"),
        ("iex", "AAPL", "--feed must be one of alpaca, polygon, yahoo"),
        ("alpaca", None, "--feed needs --symbols"),
        ("alpaca", " , ", "--feed needs --symbols"),
        ("alpaca", "AAPL,a b", "not a symbol: a b"),
        ("alpaca", ",".join(f"S{i}" for i in range(51)), "at most 50"),
    ],
)
def test_bad_arguments_are_refused(feed: str | None, symbols: str | None, error: str) -> None:
    with pytest.raises(StackError, match=error):
        demo.plan(feed, symbols, KEYS)


@pytest.fixture
def no_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The command without its stack: what it would run is recorded instead."""
    runs: list[Any] = []

    @contextlib.contextmanager
    def fake_running(stack: Any) -> Iterator[Any]:
        yield stack

    monkeypatch.setattr(local_cli, "stack_running", fake_running)

    def fake_run(stack: Any, **kw: Any) -> int:
        runs.append((stack, kw))
        return 0

    monkeypatch.setattr(demo, "run", fake_run)
    for k in (*KEYS, "TICKCAST_DEMO_FEED", "TICKCAST_DEMO_SYMBOLS"):
        monkeypatch.delenv(k, raising=False)
    yield runs


def test_the_command_says_it_falls_back_when_keys_are_missing(
    no_stack: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--feed", "alpaca", "--symbols", "AAPL,MSFT"]) == 0
    out = capsys.readouterr().out
    assert "APCA_API_KEY_ID and APCA_API_SECRET_KEY not set" in out
    assert "falling back to the replayed real data" in out
    ((stack, kw),) = no_stack
    assert not kw["chosen"].live
    assert stack.extra_env["TICKCAST_VWAP_ANCHOR"] == "bar"  # the replay's daily bars


def test_the_command_goes_live_with_keys(
    no_stack: list[Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    assert cli.main(["demo", "--feed", "alpaca", "--symbols", "AAPL,MSFT"]) == 0
    assert "LIVE from alpaca" in capsys.readouterr().out
    ((stack, kw),) = no_stack
    assert kw["chosen"].symbols == ("AAPL", "MSFT")
    assert "TICKCAST_VWAP_ANCHOR" not in stack.extra_env  # live sessions keep session VWAP


def test_a_bad_argument_is_a_one_line_error_before_anything_starts(
    no_stack: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--symbols", "AAPL"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--symbols needs --feed" in err
    assert no_stack == []
