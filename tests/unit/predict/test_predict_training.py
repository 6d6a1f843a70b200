"""`tickcast train` is reproducible (issue 14, point 9): the same data and the
same model code give the same version and the same files, byte for byte, and
the committed artifact is exactly what `tickcast train` builds from the commit
it names."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trainkit import daily_csv, run_cli

from tickcast.predict import training

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "src" / "tickcast" / "models" / "logreg-daily"
# Provenance: which code and when, not what the model is.
PROVENANCE = ("code_version", "created_at")


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return daily_csv(tmp_path_factory.mktemp("data") / "bars.csv", seed=7, days=240)


def files(stem: Path) -> tuple[bytes, bytes]:
    return stem.with_suffix(".json").read_bytes(), stem.with_suffix(".npz").read_bytes()


def test_the_same_data_gives_the_same_version_and_the_same_files(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built from committed code, twice, a minute apart on the wall clock."""
    clean = ({"tickcast": "t", "git": "0123456789ab"}, "2024-05-01T12:00:00Z")
    monkeypatch.setattr(training, "code_version", lambda root=None: clean)
    now = [1_900_000_000.0]
    monkeypatch.setattr(training.time, "time", lambda: now[0])
    argv = ["train", "--csv", str(csv_file), "--folds", "2", "--out"]
    assert run_cli([*argv, str(tmp_path / "a" / "m")]) == 0
    now[0] += 60
    assert run_cli([*argv, str(tmp_path / "b" / "m")]) == 0
    a, b = files(tmp_path / "a" / "m"), files(tmp_path / "b" / "m")
    assert a == b
    meta = json.loads(a[0])
    assert meta["created_at"] == "2024-05-01T12:00:00Z"  # the code's commit time, not now
    assert meta["model_version"].startswith("20200828-")  # the last label's date + weights hash


def _git(repo: Path, *argv: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *argv], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_code_version_names_the_last_commit_of_the_model_code(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src" / "tickcast" / "predict").mkdir(parents=True)
    (repo / "src" / "tickcast" / "bridge").mkdir(parents=True)
    _git(tmp_path, "init", "-q", str(repo))
    env = ["-c", "user.email=t@t", "-c", "user.name=t"]

    def commit(path: str, text: str, when: int) -> str:
        (repo / path).write_text(text)
        _git(repo, "add", path)
        subprocess.run(
            ["git", "-C", str(repo), *env, "commit", "-q", "-m", path, f"--date={when} +0000"],
            check=True,
            env={"GIT_COMMITTER_DATE": f"{when} +0000", "PATH": "/usr/bin:/bin"},
        )
        return _git(repo, "rev-parse", "HEAD")

    sha = commit("src/tickcast/predict/fit.py", "x = 1\n", 1_700_000_000)
    commit("src/tickcast/bridge/app.py", "y = 1\n", 1_700_100_000)  # not model code
    version, committed = training.code_version(repo)
    assert version["git"] == sha[:12] and committed == "2023-11-14T22:13:20Z"
    assert version["numpy"] == np.__version__
    (repo / "src/tickcast/predict/fit.py").write_text("x = 2\n")
    version, committed = training.code_version(repo)
    assert version["git"] == sha[:12] + "-dirty" and committed is None


def _model(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in PROVENANCE}


def test_the_committed_artifact_is_what_train_builds_from_the_commit_it_names(
    tmp_path: Path,
) -> None:
    """The documented command, on the default data, gives the committed model; and
    the committed provenance is a commit of the model code with that commit's time,
    so a clean checkout of it rebuilds both files byte for byte."""
    stem = tmp_path / "logreg-daily"
    assert run_cli(["train", "--out", str(stem)]) == 0
    built_json, built_npz = files(stem)
    committed_json, committed_npz = files(COMMITTED)
    assert built_npz == committed_npz
    built, committed = json.loads(built_json), json.loads(committed_json)
    assert _model(built) == _model(committed)

    git = committed["code_version"]["git"]
    assert git and not git.endswith("-dirty"), "built from uncommitted code: not reproducible"
    try:
        stamp = int(_git(ROOT, "show", "-s", "--format=%ct", git))
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git history here to check the commit against")
    assert committed["created_at"] == training.iso(stamp * 1000)
