"""Run-relative time-series models (`train --baseline-rows N`): every run judged against its own
warm-up, in training and in scoring."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly import Detector
from anomaly.errors import ConfigError, InputError
from anomaly.jobs.score import events_path, score_file
from anomaly.kinds.timeseries.runs import MovingMean, rebase_runs, run_starts
from tests.conftest import run_cli
from tests.kinds.timeseries.test_timeseries import FAST, ONE_THREAD, make_series, train_pump

WARMUP = 100


@pytest.fixture(scope="module")
def relative() -> Detector:
    return Detector("timeseries", **FAST, max_epochs=4, baseline_rows=WARMUP).fit(
        make_series(1500))


def test_runs_cut_long_segments_and_each_is_rebased_on_its_own_warm_up() -> None:
    starts = np.zeros(23, dtype=bool)
    starts[[0, 10]] = True  # two segments: 10 rows and 13 rows
    runs = run_starts(starts, 4, 3)
    assert np.flatnonzero(runs).tolist() == [0, 4, 10, 14, 18]  # 2-row tails join a run
    det = Detector("timeseries", **FAST, max_epochs=1).fit(make_series(200))
    rng = np.random.default_rng(0)
    inputs = rng.normal(5.0, 3.0, size=(23, 3)).astype(np.float32)
    rebased, kept = rebase_runs(det.features_, inputs, runs, 5)  # runs of 4 rows: left out
    assert len(rebased) == 6 + 5 and np.flatnonzero(kept).tolist() == [0, 6]
    for first, rows in ((0, inputs[4:9]), (6, inputs[18:23])):
        warm = rebased[first:first + 5]
        np.testing.assert_allclose(warm.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(warm.std(axis=0), 1.0, rtol=1e-4)
        np.testing.assert_allclose(warm * rows.std(axis=0) + rows.mean(axis=0), rows,
                                   rtol=1e-4)


def test_moving_mean_in_chunks_equals_at_once() -> None:
    errors = np.random.default_rng(1).random((50, 2))
    whole = MovingMean(7)(errors)
    expected = pd.DataFrame(errors).rolling(7, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(whole, expected)
    mean = MovingMean(7)
    parts = [mean(errors[a:b]) for a, b in ((0, 3), (3, 4), (4, 30), (30, 50))]
    np.testing.assert_allclose(np.concatenate(parts), whole)


def test_scores_are_relative_to_the_warm_up_and_blind_to_a_new_runs_levels(
        relative: Detector) -> None:
    assert relative.threshold_ == 1.0 and relative.threshold_info_["method"] == "manual"
    run = make_series(400, seed=4, start=5000)
    moved = run.assign(a=3.0 * run["a"] + 5.0, c=run["c"] - 2.0)
    scores = relative.anomaly_scores(run)  # no option: the model re-bases with its own N
    np.testing.assert_allclose(relative.anomaly_scores(moved), scores, rtol=1e-4, atol=1e-6)
    assert (scores[:WARMUP] <= 1.0 + 1e-6).mean() > 0.9  # 1 = the warm-up's peak
    assert (scores > 1.0).mean() < 0.1
    faulty = run.copy()
    faulty.loc[250:300, "b"] *= -1.0  # the sensor turns against its partner, level kept
    flagged = relative.anomaly_scores(faulty) > relative.threshold_
    assert flagged[260:300].mean() > 0.8 and flagged[:240].mean() < 0.1


def test_missing_values_and_a_constant_sensor_in_the_warm_up(relative: Detector) -> None:
    """Gaps in the warm-up and a sensor that does not move during it (its scale is 0) score
    without a warning or a NaN; a sensor constant all run long is consistent with its warm-up,
    one that starts moving after a constant warm-up is flagged."""
    run = make_series(400, seed=4, start=5000)
    gappy, steady, woken = run.copy(), run.assign(c=0.3), run.copy()
    gappy.loc[[10, 11, 40, 90, 200], "a"] = np.nan
    woken.loc[:WARMUP - 1, "c"] = 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = {name: relative.anomaly_scores(frame) for name, frame in (
            ("gappy", gappy), ("steady", steady), ("woken", woken))}
    assert all(np.isfinite(s).all() for s in scores.values())
    assert (scores["gappy"] > relative.threshold_).mean() < 0.05
    assert not (scores["steady"] > relative.threshold_).any()
    assert (scores["woken"][WARMUP:] > relative.threshold_).mean() > 0.9


def test_bundle_keeps_the_warm_up_and_a_given_baseline_overrides_it(
        relative: Detector, tmp_path: Path) -> None:
    relative.save(tmp_path, "pump")
    loaded = Detector.load("pump", models_dir=tmp_path)
    assert loaded.features_.baseline_rows == WARMUP and loaded.features_.run_rows == 250
    run = make_series(400, seed=4, start=5000)
    np.testing.assert_allclose(loaded.anomaly_scores(run), relative.anomaly_scores(run),
                               rtol=1e-6)
    assert loaded.explain_item(run, 350).score == pytest.approx(
        relative.anomaly_scores(run)[350], rel=1e-5)  # the loaded bundle knows its warm-up
    other = loaded.anomaly_scores(run, baseline_rows=200)
    assert not np.allclose(other, relative.anomaly_scores(run))
    with pytest.raises(InputError, match=r"has 80 row\(s\) — --baseline-rows 100 needs"):
        loaded.score_frame(make_series(80, start=9000))


def test_chunked_equals_whole_file_with_groups_and_a_gap(tmp_path: Path) -> None:
    a, b = make_series(700, seed=1), make_series(700, seed=2)
    a["machine"], b["machine"] = "m1", "m2"
    det = Detector("timeseries", **FAST, group_col="machine", max_epochs=2,
                   baseline_rows=40, run_rows=200).fit(pd.concat([a, b]))
    test = pd.concat([make_series(200, seed=5, start=900).assign(machine="m1"),
                      make_series(150, seed=6, start=900).assign(machine="m2")])
    test = test.sort_values("t", kind="stable")  # the groups interleave in time
    test.loc[test["t"] > 1000, "t"] += 60  # a gap in both groups
    test.loc[test["t"] > 1020, "b"] += 1.5
    path = tmp_path / "run.csv"
    test.to_csv(path, index=False)
    whole = det.score_frame(pd.read_csv(path))
    for block in (500, 4500):  # CSV blocks of bytes: ~7 and ~61 rows
        out = tmp_path / f"scored_{block}.csv"
        score_file(det, path, out, block_bytes=block, events=True)
        chunked = pd.read_csv(out, keep_default_na=False)
        np.testing.assert_allclose(chunked["anomaly_score"], whole["anomaly_score"], rtol=1e-6)
        assert chunked["machine"].tolist() == whole["machine"].tolist()
        assert events_path(out).exists()


def test_explain_gives_the_files_score_and_shows_the_sensors_own_units(
        relative: Detector) -> None:
    run = make_series(400, seed=4, start=5000)
    run["a"] = 3.0 * run["a"] + 5.0  # a new run at another level
    scores = relative.anomaly_scores(run)
    for position in (WARMUP + 30, 350):
        found = relative.explain_item(run, position)
        assert found.score == pytest.approx(scores[position], rel=1e-5)
        window = found.window
        assert window is not None
        a = window[window["sensor"] == "a"].set_index("time")
        np.testing.assert_allclose(a["input"], run.set_index("t").loc[a.index, "a"], rtol=1e-4)
        assert (a["reconstruction"] - a["input"]).abs().mean() < 1.0  # in the run's units


def test_explain_near_a_gap_and_the_warm_up_with_a_score_stride() -> None:
    det = Detector("timeseries", **FAST, max_epochs=2, baseline_rows=40, score_stride=3).fit(
        make_series(1200))
    run = make_series(600, seed=6, start=4000)
    run.loc[run["t"] >= 4300, "t"] += 100  # a gap after row 300: the moving mean spans it
    scores = det.anomaly_scores(run)
    for position in (0, 39, 40, 41, 60, 298, 300, 301, 310, 330, 599):
        assert det.explain_item(run, position).score == pytest.approx(scores[position],
                                                                      rel=1e-5), position


def test_bad_settings_and_too_short_data_are_refused() -> None:
    with pytest.raises(ConfigError, match="baseline_rows must be at least the window"):
        Detector("timeseries", **FAST, baseline_rows=8).fit(make_series(600))
    with pytest.raises(ConfigError, match="run_rows needs baseline_rows"):
        Detector("timeseries", **FAST, run_rows=300).fit(make_series(600))
    with pytest.raises(InputError, match=r"validation part of a series has 100 rows"):
        Detector("timeseries", **FAST, baseline_rows=100).fit(make_series(500))


@pytest.mark.slow
def test_cli_trains_a_run_relative_model_and_scores_with_its_warm_up(tmp_path: Path) -> None:
    train_pump(tmp_path, 1500, "--baseline-rows", "100")
    run = tmp_path / "run.csv"
    make_series(300, start=5000).assign(a=lambda f: f["a"] + 4.0).to_csv(run, index=False)
    result = run_cli("score", "pump", str(run), "--workspace", str(tmp_path), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(tmp_path / "scores" / "run.scored.csv")
    assert scored["is_anomaly"].mean() < 0.2  # the new level is the run's own normal
    info = run_cli("info", "pump", "--workspace", str(tmp_path))
    assert "run-relative: each file (and group) against its first 100 rows" in info.stdout
    result = run_cli("train", str(tmp_path / "train.csv"), "--kind", "timeseries", "--time-col",
                     "t", "--window", "16", "--baseline-rows", "8", "--workspace", str(tmp_path),
                     env=ONE_THREAD)
    assert result.returncode == 2 and "baseline_rows must be at least the window" in \
        result.stderr and "Traceback" not in result.stderr
