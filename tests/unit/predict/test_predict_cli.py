"""`tickcast train` / `tickcast evaluate` through their argparse registration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from tickcast.errors import TickcastError
from tickcast.predict.cli import register
from tickcast.predict.registry import Registry


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tickcast")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    path = tmp_path_factory.mktemp("data") / "bars.csv"
    lines = ["date,symbol,open,high,low,close,volume"]
    for sym in ("AAA", "BBB"):
        c = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 260)))
        for i, x in enumerate(c):
            day = np.datetime64("2020-01-01") + np.timedelta64(i, "D")
            lines.append(f"{day},{sym},{x:.4f},{x * 1.01:.4f},{x * 0.99:.4f},{x:.4f},{1000 + i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_prints_the_table_and_writes_json(csv_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.json"
    assert run(["evaluate", "--csv", str(csv_file), "--folds", "3", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("logreg (trained)", "base rate", "sign of last return", "SMA(10/30) crossover"):
        assert label in text
    assert "calibration" in text
    report = json.loads(out.read_text())
    assert report["symbols"] == ["AAA", "BBB"] and report["config"]["folds"] == 3
    row = report["metrics"]["logreg"]
    assert {"accuracy", "auc", "brier", "log_loss", "n"} <= set(row)


def test_train_writes_an_artifact_the_registry_serves(
    csv_file: Path, tmp_path: Path, capsys
) -> None:
    stem = tmp_path / "models" / "mine"
    assert (
        run(
            [
                "train",
                "--csv",
                str(csv_file),
                "--out",
                str(stem),
                "--model-id",
                "mine",
                "--folds",
                "2",
            ]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert meta["training"]["sources"] == ["csv:bars.csv"] and meta["horizon_bars"] == 1
    model = Registry(live_uri=str(stem.with_suffix(".json"))).live()
    assert model.model_id == "mine" and model.model_version == meta["model_version"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--folds", "0"], "--folds: must be at least 1"),
        (["evaluate", "--l2", "-1"], "--l2: must be a positive number"),
        (["evaluate", "--initial-fraction", "1.5"], "--initial-fraction: must be between 0 and 1"),
        (["train", "--out", "x", "--model-id", "a/b"], "--model-id: 'a/b'"),
        (["train"], "the following arguments are required: --out"),
        (["evaluate", "--csv", "x.csv", "--arch", "sp500"], "not allowed with argument"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_error_line(
    argv: list[str], message: str, capsys
) -> None:
    with pytest.raises(SystemExit) as exc:
        run(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("tickcast ")


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TickcastError, match="no such file"):
        run(["evaluate", "--csv", str(tmp_path / "missing.csv")])
    with pytest.raises(TickcastError, match="unknown arch series 'dow'"):
        run(["evaluate", "--arch", "dow"])
    short = tmp_path / "short.csv"
    short.write_text("open,high,low,close,volume\n" + "10,11,9,10,1\n" * 20)
    with pytest.raises(TickcastError, match="no labelled samples"):
        run(["evaluate", "--csv", str(short), "--symbol", "X"])
