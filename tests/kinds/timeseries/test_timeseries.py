"""Time series: ordering, groups, gaps, the three networks, per-timestamp scores, streaming."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly import Detector, load_detector
from anomaly.config import DataConfig, WindowConfig
from anomaly.errors import InputError
from anomaly.jobs.score import score_file
from anomaly.kinds.timeseries.features import TimeseriesFeatures, group_codes
from tests.conftest import run_cli

WINDOW = 16
FAST = {"time_col": "t", "window": WINDOW, "progress_bar": False, "batch_size": 64, "seed": 0}
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny networks: extra threads only contend for the cores


def make_series(n: int = 900, seed: int = 0, start: int = 0) -> pd.DataFrame:
    """Three sensors: two coupled sines and a slow cosine, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + n, dtype=np.float64)
    return pd.DataFrame({
        "t": t,
        "a": np.sin(t / 6) + 0.05 * rng.normal(size=n),
        "b": 0.8 * np.sin(t / 6 + 0.5) + 0.05 * rng.normal(size=n),
        "c": np.cos(t / 11) + 0.05 * rng.normal(size=n),
    })


def train_pump(folder: Path, rows: int, *options: str) -> None:
    """Train model 'pump' through the real CLI on `rows` rows of `make_series` (window 16,
    2 epochs) in the workspace `folder`, with extra `options`."""
    train = folder / "train.csv"
    make_series(rows).to_csv(train, index=False)
    result = run_cli("train", str(train), "--kind", "timeseries", "--time-col", "t",
                     "--window", "16", "--epochs", "2", *options, "--name", "pump",
                     "--no-progress", "--workspace", str(folder), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def fitted() -> Detector:
    return Detector("timeseries", **FAST, max_epochs=40, patience=8).fit(make_series(900))


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with model 'pump' trained through the real CLI (grouped data)."""
    folder = tmp_path_factory.mktemp("ts")
    a, b = make_series(300, seed=1), make_series(300, seed=2)
    a["machine"], b["machine"] = "m1", "m2"
    pd.concat([a, b]).to_csv(folder / "pump.csv", index=False)
    result = run_cli("train", str(folder / "pump.csv"), "--kind", "timeseries", "--time-col", "t",
                     "--group-col", "machine", "--window", str(WINDOW), "--model", "conv",
                     "--epochs", "2", "--no-progress", "--workspace", str(folder), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    return folder


def test_unsorted_input_is_sorted_with_a_note(caplog: pytest.LogCaptureFixture) -> None:
    frame = make_series(200).sample(frac=1.0, random_state=0)
    with caplog.at_level(logging.WARNING, logger="anomaly"):
        det = Detector("timeseries", **FAST, max_epochs=1).fit(frame)
    assert "not in time order" in caplog.text
    out = det.score_frame(frame)
    assert out["t"].is_monotonic_increasing and len(out) == len(frame)


def test_duplicate_timestamps_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    frame = make_series(200)
    frame.loc[50, "t"] = frame.loc[49, "t"]
    frame.loc[120, "t"] = frame.loc[119, "t"]
    with caplog.at_level(logging.WARNING, logger="anomaly"):
        Detector("timeseries", **FAST, max_epochs=1).fit(frame)
    assert "2 duplicate timestamp(s) (first: '49.0')" in caplog.text


def _features(frame: pd.DataFrame, group: str | None = None) -> TimeseriesFeatures:
    return TimeseriesFeatures().fit(frame, DataConfig(time_col="t"),
                                    WindowConfig(window=8, group_col=group))


def test_windows_never_cross_groups() -> None:
    a, b = make_series(50), make_series(30)
    a["g"], b["g"] = "x", "y"
    frame = pd.concat([a, b], ignore_index=True)  # same time stamps in both groups
    windows, index = _features(frame, "g").windows(frame, "test")
    groups = group_codes(frame, "g", "test")[index]
    assert (groups == groups[:, :1]).all()
    assert len(windows) == (50 - 8 + 1) + (30 - 8 + 1)


def test_a_gap_splits_windows() -> None:
    frame = make_series(60)
    frame.loc[30:, "t"] += 1000  # one gap of 1000 steps after row 29
    feats = _features(frame)
    _, index = feats.windows(frame, "test")
    assert feats.max_gap == pytest.approx(3.0)  # 3 × the median step
    crossing = (index.min(axis=1) < 30) & (index.max(axis=1) >= 30)
    assert not crossing.any()
    assert len(index) == 2 * (30 - 8 + 1)


@pytest.mark.parametrize("model", ["conv", "lstm", "dense"])
def test_each_network_trains_and_scores(model: str) -> None:
    frame = make_series(240)
    det = Detector("timeseries", **FAST, model=model, max_epochs=2, patience=0).fit(frame)
    assert det.training_summary_["epochs_run"] == 2
    assert len(det.history_) == 2
    out = det.score_frame(frame)
    assert len(out) == len(frame)  # one score per timestamp
    assert out["t"].tolist() == frame["t"].tolist()
    assert np.isfinite(out["anomaly_score"]).all()
    assert (out["is_anomaly"] == (out["anomaly_score"] > det.threshold_)).all()


def test_spike_is_flagged_and_named(fitted: Detector) -> None:
    test = make_series(300, seed=5, start=2000)
    test.loc[150, "b"] += 4.0
    out = fitted.score_frame(test)
    assert out.loc[150, "is_anomaly"]
    assert out.loc[150, "top_features"].startswith("b ")
    assert out["anomaly_score"].idxmax() in range(150 - WINDOW, 150 + WINDOW)
    assert out["is_anomaly"].mean() < 0.2
    # sklearn contract holds per timestamp, in input order
    assert (fitted.predict(test) == np.where(fitted.anomaly_scores(test) > fitted.threshold_,
                                             -1, 1)).all()


def test_explain_item_judges_a_timestamp_in_its_window(fitted: Detector) -> None:
    """The drill-down of one timestamp uses the rows around it and gives its full-file score."""
    test = make_series(300, seed=5, start=2000).sample(frac=1.0, random_state=1)  # unsorted
    spike = int(np.flatnonzero(test["t"].to_numpy() == 2150.0)[0])
    test.iloc[spike, test.columns.get_loc("b")] += 4.0
    whole = fitted.row_scores(test)
    for position in (spike, int(np.argmin(test["t"].to_numpy())), 7):
        why = fitted.explain_item(test, position)
        assert why.score == pytest.approx(whole.scores[position], rel=1e-5)
        assert why.table["error_share"].sum() == pytest.approx(1.0)
    assert fitted.explain_item(test, spike).table["feature"].iloc[0] == "b"


def test_find_item_reads_the_key_as_the_time_column_is_read(tmp_path: Path) -> None:
    """`explain --item 2024-01-01 00:05:00` finds the row written 2024-01-01T00:05:00."""
    frame = make_series(200)
    frame["t"] = pd.date_range("2024-01-01", periods=200, freq="min").strftime("%Y-%m-%dT%H:%M:%S")
    det = Detector("timeseries", **{**FAST, "window": 8}, max_epochs=1).fit(frame)
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    assert det.find_item(path, "2024-01-01 00:05:00").position == 5
    for missing in ("2025-01-01 00:00:00", "not a time"):
        with pytest.raises(InputError, match="no row with t="):
            det.find_item(path, missing)


def test_chunked_scoring_equals_whole_file(fitted: Detector, tmp_path: Path) -> None:
    test = make_series(400, seed=6, start=3000)
    test.loc[100, "a"] -= 3.0
    test.loc[200:, "t"] += 50  # a gap inside the file as well
    path = tmp_path / "series.csv"
    test.to_csv(path, index=False)
    whole = fitted.score_frame(pd.read_csv(path))
    for block in (500, 2800, 1 << 20):  # CSV blocks of bytes: ~7, 37 rows, all
        out = tmp_path / f"scored_{block}.csv"
        score_file(fitted, path, out, block_bytes=block)
        chunked = pd.read_csv(out, keep_default_na=False)
        assert len(chunked) == len(whole)
        np.testing.assert_allclose(chunked["anomaly_score"], whole["anomaly_score"], rtol=1e-6)
        assert chunked["is_anomaly"].tolist() == whole["is_anomaly"].tolist()
        assert chunked["top_features"].tolist() == whole["top_features"].tolist()


def test_stream_refuses_time_going_back(fitted: Detector) -> None:
    test = make_series(100, start=5000)
    with pytest.raises(InputError, match="goes back in time"):
        list(fitted.score_stream([test.iloc[50:], test.iloc[:50]]))


def test_bundle_round_trip(fitted: Detector, tmp_path: Path) -> None:
    fitted.save(tmp_path / "models", "sine")
    loaded = load_detector("sine", tmp_path / "models")
    assert isinstance(loaded, Detector) and loaded.kind == "timeseries"
    assert loaded.features_.window == WINDOW and loaded.architecture_["class"] == \
        "ConvAutoencoder"
    test = make_series(120, seed=9, start=7000)
    pd.testing.assert_frame_equal(loaded.score_frame(test), fitted.score_frame(test))


@pytest.mark.slow
def test_cli_scores_groups_and_refuses_short_files(cli_model: Path) -> None:
    short = cli_model / "short.csv"
    make_series(WINDOW - 1).assign(machine="m1").to_csv(short, index=False)
    result = run_cli("score", "pump", str(short), "--workspace", str(cli_model),
                     env=ONE_THREAD)
    assert result.returncode == 2
    assert "shorter than one window (16 rows)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cli_model / "scores" / "short.scored.csv").exists()
    result = run_cli("score", "pump", str(cli_model / "pump.csv"), "--workspace",
                     str(cli_model), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(cli_model / "scores" / "pump.scored.csv")
    assert len(scored) == 600 and set(scored["machine"]) == {"m1", "m2"}
    meta = json.loads((cli_model / "models" / "pump" / "v1" / "bundle.json").read_text())
    assert {"name": "machine", "role": "group"} in meta["schema"]["columns"]


@pytest.mark.slow
def test_cli_explains_a_timestamp(cli_model: Path) -> None:
    result = run_cli("explain", "pump", str(cli_model / "pump.csv"), "--item", "120",
                     "--group", "m2", "--workspace", str(cli_model), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("timestamp 120: anomaly_score ")
    assert "features by share of the error:" in result.stdout
    missing = run_cli("explain", "pump", str(cli_model / "pump.csv"), "--item", "99999",
                      "--workspace", str(cli_model), env=ONE_THREAD)
    assert missing.returncode == 2 and "no row with t=99999" in missing.stderr


@pytest.mark.slow
def test_evaluate_prints_timeseries_metrics(cli_model: Path) -> None:
    test = make_series(200, seed=3, start=1000)
    test["machine"] = "m1"
    test["label"] = 0
    test.loc[100:110, ["b", "label"]] = [5.0, 1]
    path = cli_model / "labelled.csv"
    test.to_csv(path, index=False)
    result = run_cli("evaluate", "pump", str(path), "--label-col", "label", "--workspace",
                     str(cli_model), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert "SKAB F1" in result.stdout and "FAR" in result.stdout
    assert "point-adjusted F1" in result.stdout
    assert "events: 1/1 detected" in result.stdout


def test_few_windows_train_in_smaller_batches() -> None:
    """A short normal period still gets at least 10 optimiser steps an epoch."""
    det = Detector("timeseries", **{**FAST, "batch_size": 256}, max_epochs=1).fit(
        make_series(300))
    summary = det.training_summary_
    assert summary["batch_size"] == max(16, summary["train_windows"] // 10) < 256
    assert det.settings_.training.batch_size == 256  # the user's setting is kept as given
    big = Detector("timeseries", **FAST, max_epochs=1).fit(make_series(900))
    assert big.training_summary_["batch_size"] == 64  # enough windows: unchanged


def test_find_item_with_groups_needs_the_group_when_times_are_shared(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-01-01", periods=60, freq="min").strftime("%Y-%m-%dT%H:%M:%S")
    frame = pd.concat([pd.DataFrame({"t": times, "machine": m, "x": rng.normal(size=60),
                                     "y": rng.normal(size=60)}) for m in ("m1", "m2")],
                      ignore_index=True)
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    det = Detector("timeseries", time_col="t", group_col="machine", window=8, max_epochs=1,
                   progress_bar=False).fit(frame)
    with pytest.raises(InputError, match=r"2 series have t=2024-01-01T00:05:00 \(m1, m2\) — "
                                         "say which with --group m1"):
        det.find_item(path, "2024-01-01T00:05:00")
    assert det.find_item(path, "2024-01-01T00:05:00", "m2").position == 65
    with pytest.raises(InputError, match="no row with t=2024-01-01T00:05:00 and machine=m9"):
        det.find_item(path, "2024-01-01T00:05:00", "m9")
