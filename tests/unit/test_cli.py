"""Bad CLI arguments: a one-line message and a non-zero exit."""

from __future__ import annotations

import pytest

from tickcast.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["replay", "/nonexistent.ndjson"], "no such file"),
        (["replay", "x.csv", "--rate", "-1"], "--rate"),
        (["tail", "not a symbol"], "invalid symbol"),
        (["local", "up", "--redis-port", "0"], "--redis-port"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_fail_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1]
