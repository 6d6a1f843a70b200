"""`tickcast train` / `tickcast evaluate` through their argparse registration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainkit import daily_csv, run_cli

from tickcast.errors import TickcastError
from tickcast.predict.registry import Registry


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return daily_csv(tmp_path_factory.mktemp("data") / "bars.csv", seed=11, days=260)


def test_evaluate_prints_the_table_and_writes_json(csv_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.json"
    assert run_cli(["evaluate", "--csv", str(csv_file), "--folds", "3", "--json", str(out)]) == 0
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
        run_cli(
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
        run_cli(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("tickcast ")


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TickcastError, match="no such file"):
        run_cli(["evaluate", "--csv", str(tmp_path / "missing.csv")])
    with pytest.raises(TickcastError, match="unknown arch series 'dow'"):
        run_cli(["evaluate", "--arch", "dow"])
    short = tmp_path / "short.csv"
    short.write_text("open,high,low,close,volume\n" + "10,11,9,10,1\n" * 20)
    with pytest.raises(TickcastError, match="no labelled samples"):
        run_cli(["evaluate", "--csv", str(short), "--symbol", "X"])
