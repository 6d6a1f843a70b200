"""`python -m tickcast.bench.predict` at a tiny size: it runs, checks every prediction
against the numpy reference, and prints both figures per model and a verdict.

No assertion depends on speed: the target is printed as PASS or MISS, and which
one is the machine's business.
"""

from __future__ import annotations

import math
import re

import pytest

from tickcast.bench import predict, report
from tickcast.cli import BENCH_SUITES
from tickcast.config import Settings
from tickcast.predict.linear import LinearModel
from tickcast.predict.stage import registry_for

TINY = ["--calls", "300", "--bars", "80", "--check", "100"]
ROW = re.compile(
    r"^\| (?P<model>[\w-]+) \| (?P<what>[^|]+) \| (?P<p50>[\d.]+) \| (?P<p99>[\d.]+) \|"
)


def _rows(printed: str) -> dict[tuple[str, str], tuple[float, float]]:
    rows = {}
    for line in printed.splitlines():
        m = ROW.match(line)
        if m:
            key = (m["model"], m["what"].split(",")[0].split(":")[0].strip())
            rows[key] = (float(m["p50"]), float(m["p99"]))
    return rows


def test_both_figures_and_a_verdict_per_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert predict.main(TINY) == 0
    printed = capsys.readouterr().out
    assert "every Prediction identical to the numpy reference" in printed
    rows = _rows(printed)
    for model in ("logreg-daily", "ensemble"):
        for what in ("prediction", "numpy dot"):
            p50, p99 = rows[(model, what)]
            assert 0 < p50 <= p99, (model, what)
    verdicts = [line for line in printed.splitlines() if line.startswith("target: ")]
    assert len(verdicts) == 2
    assert all(line.endswith(("-> PASS", "-> MISS")) for line in verdicts)
    assert "logreg-daily prediction in at most 10 µs" in verdicts[0]
    assert "ensemble prediction" in verdicts[1]


def test_a_prediction_that_differs_from_the_reference_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = registry_for(Settings.from_env({})).live()
    vectors = predict.feature_vectors(80, 7)
    assert predict.check_exact([model], vectors) is None
    exact = LinearModel.terms

    def off_by_one_ulp(self: LinearModel, x: list[float]) -> list[float]:
        return [math.nextafter(t, math.inf) for t in exact(self, x)]

    monkeypatch.setattr(LinearModel, "terms", off_by_one_ulp)
    assert "logreg-daily differs" in (predict.check_exact([model], vectors) or "")
    assert predict.main(TINY) == 1
    assert "exactness: MISMATCH" in capsys.readouterr().out


def test_the_cli_runs_both_new_suites() -> None:
    assert BENCH_SUITES["predict"] == "tickcast.bench.predict"
    assert BENCH_SUITES["dedupe"] == "tickcast.bench.dedupe"
    assert {"predict", "dedupe"} <= {s.name for s in report.SUITES}


def test_a_bad_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        predict.main(["--calls", "5"])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
