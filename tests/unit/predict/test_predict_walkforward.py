"""Training data comes from the live feature code; walk-forward never looks ahead."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from tickcast.features.vector import FeatureSet
from tickcast.predict import dataset, walkforward
from tickcast.predict.inputs import raw_inputs
from tickcast.predict.logistic import normalisation
from tickcast.predict.training import iso, train

DAY_MS = 86_400_000


def series(symbol: str, n: int, seed: int) -> dataset.PriceSeries:
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    bars = tuple(
        dataset.bar(
            i * DAY_MS, c * 0.999, c * 1.005, c * 0.994, float(c), 1e6 + 1e4 * (i % 7), None
        )
        for i, c in enumerate(closes)
    )
    return dataset.PriceSeries(symbol, dataset.DAY_S, bars)


@pytest.fixture(scope="module")
def data() -> dataset.Samples:
    return dataset.samples([series("AAA", 400, 1), series("BBB", 400, 2)], horizon_bars=1)


def test_samples_are_the_live_feature_code_plus_the_next_return_sign() -> None:
    s = series("AAA", 120, 9)
    got = dataset.samples([s], horizon_bars=3)
    fs, rows = FeatureSet(), []
    for i, b in enumerate(s.bars):
        f, ready, _ = fs.update(b)
        if ready and i + 3 < len(s.bars):
            up = math.log(s.bars[i + 3].c / b.c) > 0
            rows.append((b.t + DAY_MS, s.bars[i + 3].t + DAY_MS, raw_inputs(f), float(up)))
    assert len(got) == len(rows) > 50
    np.testing.assert_array_equal(got.seq, [r[0] for r in rows])
    np.testing.assert_array_equal(got.label_seq, [r[1] for r in rows])
    np.testing.assert_array_equal(got.x, np.vstack([r[2] for r in rows]))
    np.testing.assert_array_equal(got.y, [r[3] for r in rows])


def test_every_training_label_is_known_before_its_test_block(data: dataset.Samples) -> None:
    folds = walkforward.folds(data, walkforward.Config(folds=4))
    assert len(folds) == 4
    for f in folds:
        assert data.label_seq[f.train].max() <= f.test_start
        assert data.seq[f.test].min() == f.test_start
        assert not (f.train & f.test).any()
    # Expanding: each window contains the previous one.
    for a, b in itertools.pairwise(folds):
        assert (a.train <= b.train).all() and b.train.sum() > a.train.sum()


def test_a_fold_learns_nothing_from_its_test_block_or_later(data: dataset.Samples) -> None:
    cfg = walkforward.Config(folds=3)
    fold = walkforward.folds(data, cfg)[0]
    before = walkforward.fold_predictions(data, fold, cfg)
    # Flip every label not yet known when the block starts, and scramble the inputs of
    # every bar after the block: the block's forecasts must not change at all.
    unknown = data.label_seq > fold.test_start
    after_block = data.seq > fold.test_end
    tampered = dataset.Samples(
        data.symbol,
        data.seq,
        data.label_seq,
        np.where(after_block[:, None], data.x * 50 + 3, data.x),
        np.where(unknown, 1 - data.y, data.y),
        data.interval_s,
    )
    after = walkforward.fold_predictions(tampered, fold, cfg)
    assert unknown.sum() > fold.test.sum() > 0
    for name in walkforward.MODELS:
        np.testing.assert_array_equal(before[name], after[name])


def test_the_artifact_normalisation_comes_from_the_training_window_only(
    data: dataset.Samples,
) -> None:
    cfg = walkforward.Config(folds=2)
    end = int(np.quantile(data.label_seq, 0.7))
    trained = train(data, cfg, model_id="t", sources=["synthetic"], train_end_ms=end)
    window = data.label_seq <= end
    mean, std = normalisation(data.x[window])
    np.testing.assert_allclose(trained.meta.normalisation.mean, mean)
    np.testing.assert_allclose(trained.meta.normalisation.std, std)
    assert trained.meta.training["samples"] == int(window.sum())
    assert trained.meta.training["end"] <= iso(end)


def test_report_has_every_model_and_baseline_on_the_same_rows(data: dataset.Samples) -> None:
    r = walkforward.evaluate(data, walkforward.Config(folds=3))
    ns = {m: row["n"] for m, row in r["metrics"].items()}
    assert set(ns) == set(walkforward.MODELS) and len(set(ns.values())) == 1
    assert sum(f["test_n"] for f in r["folds"]) == ns["logreg"]
    base = r["metrics"]["base_rate"]
    assert base["accuracy"] == pytest.approx(max(r["test_up_rate"], 1 - r["test_up_rate"]), abs=0.1)
    assert sum(row["n"] for row in r["calibration"]["logreg"]) == ns["logreg"]


def test_csv_rows_become_bars_and_bad_rows_name_their_line(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2024-01-03,abc,10,11,9,10.5,100\n"
        "2024-01-02,abc,10,11,9,10,100\n"
    )
    (s,) = dataset.read_csv(good)
    assert s.symbol == "ABC" and [b.c for b in s.bars] == [10.0, 10.5]  # sorted by time
    assert s.bars[0].t == 1704153600000 and s.bars[0].vwap == pytest.approx(10.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("open,high,low,close,volume\n10,11,9,10,1\n10,11,9,-1,1\n")
    with pytest.raises(dataset.DataError, match=r"bad.csv:3: prices must be positive"):
        dataset.read_csv(bad, "X")
    with pytest.raises(dataset.DataError, match="missing column"):
        (tmp_path / "cols.csv").write_text("open,close\n1,2\n")
        dataset.read_csv(tmp_path / "cols.csv", "X")
