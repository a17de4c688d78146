"""Time series: `--baseline-rows` (a new run judged against its own warm-up) and alarm events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly import Detector
from anomaly.errors import InputError
from anomaly.jobs.score import events_path, score_file
from anomaly.kinds.timeseries.events import EventCollector, flag_runs
from tests.conftest import make_tabular, run_cli
from tests.kinds.timeseries.test_timeseries import FAST, ONE_THREAD, make_series, train_pump


@pytest.fixture(scope="module")
def fitted() -> Detector:
    return Detector("timeseries", **FAST, max_epochs=15).fit(make_series(600))


def test_baseline_makes_scores_blind_to_each_sensors_level_and_spread(fitted: Detector) -> None:
    run = make_series(300, seed=4, start=2000)
    moved = run.assign(a=3.0 * run["a"] + 5.0, c=run["c"] - 2.0)  # a new run: other levels
    plain = fitted.anomaly_scores(run, baseline_rows=120)
    np.testing.assert_allclose(fitted.anomaly_scores(moved, baseline_rows=120), plain,
                               rtol=1e-4, atol=1e-6)
    without = fitted.anomaly_scores(moved)
    assert (without > fitted.threshold_).mean() > 0.9  # judged on the training run's levels
    assert (plain > fitted.threshold_).mean() < 0.1


def test_baseline_chunked_equals_whole_file_with_groups_and_a_gap(tmp_path: Path) -> None:
    a, b = make_series(300, seed=1), make_series(300, seed=2)
    a["machine"], b["machine"] = "m1", "m2"
    det = Detector("timeseries", **FAST, group_col="machine", max_epochs=2).fit(
        pd.concat([a, b]))
    test = pd.concat([make_series(200, seed=5, start=900).assign(machine="m1"),
                      make_series(150, seed=6, start=900).assign(machine="m2")])
    test = test.sort_values("t", kind="stable")  # the groups interleave in time
    test.loc[test["t"] > 1000, "t"] += 60  # a gap in both groups
    test["b"] += 1.5
    path = tmp_path / "run.csv"
    test.to_csv(path, index=False)
    whole = det.score_frame(pd.read_csv(path), baseline_rows=80)
    for block in (500, 4500, 1 << 20):  # CSV blocks of bytes: ~7, 61 rows, all
        out = tmp_path / f"scored_{block}.csv"
        score_file(det, path, out, block_bytes=block, baseline_rows=80, events=True)
        chunked = pd.read_csv(out, keep_default_na=False)
        np.testing.assert_allclose(chunked["anomaly_score"], whole["anomaly_score"], rtol=1e-6)
        assert chunked["t"].tolist() == whole["t"].tolist()
        assert chunked["machine"].tolist() == whole["machine"].tolist()
        if block == 500:
            first_events = pd.read_csv(events_path(out))
        else:
            pd.testing.assert_frame_equal(pd.read_csv(events_path(out)), first_events)


def test_baseline_needs_that_many_rows_in_each_file(fitted: Detector) -> None:
    with pytest.raises(InputError, match=r"has 200 row\(s\) — --baseline-rows 250 needs"):
        fitted.score_frame(make_series(200, start=4000), baseline_rows=250)
    with pytest.raises(InputError, match="at least 2 rows"):
        fitted.score_frame(make_series(200, start=4000), baseline_rows=1)


def test_tabular_models_refuse_baseline_rows() -> None:
    det = Detector(max_epochs=1).fit(make_tabular(200))
    with pytest.raises(InputError, match="--baseline-rows is for time-series models"):
        det.score_frame(make_tabular(50), baseline_rows=10)


def test_events_join_flags_across_short_gaps_and_keep_the_peak() -> None:
    scored = pd.DataFrame({"t": np.arange(12.0), "g": ["x"] * 6 + ["y"] * 6,
                           "anomaly_score": [0, 5, 0, 9, 0, 0, 0, 0, 4, 0, 0, 7.0],
                           "is_anomaly": [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1],
                           "top_features": [f"s{i} 90%" for i in range(12)]})
    whole = EventCollector("t", "g", gap=3)
    whole.add(scored)
    parts = EventCollector("t", "g", gap=3)
    for start in range(0, 12, 5):
        parts.add(scored.iloc[start:start + 5])
    table = whole.finish()
    pd.testing.assert_frame_equal(parts.finish(), table)
    assert table.values.tolist() == [["x", 1.0, 3.0, 3, 2, 3.0, 9.0, "s3 90%"],
                                     ["y", 8.0, 11.0, 4, 2, 11.0, 7.0, "s11 90%"]]
    assert flag_runs(np.array([1, 0, 0, 0, 1, 1]), gap=3) == [(0, 0), (4, 5)]


def test_explanation_shows_the_window_input_against_its_reconstruction(fitted: Detector
                                                                      ) -> None:
    test = make_series(200, seed=5, start=3000)
    test.loc[120, "b"] += 4.0
    window = fitted.explain_item(test, 120).window
    assert window is not None
    assert list(window.columns) == ["time", "sensor", "input", "reconstruction"]
    assert len(window) == 16 * 3 and window["time"].max() == 3120.0  # the window ending there
    b = window[window["sensor"] == "b"].set_index("time")
    np.testing.assert_allclose(b["input"], test.set_index("t").loc[b.index, "b"], rtol=1e-5)
    gap = (window["input"] - window["reconstruction"]).abs()
    assert window.loc[gap.idxmax(), ["time", "sensor"]].tolist() == [3120.0, "b"]


@pytest.mark.slow
def test_cli_baseline_rows_and_events_sidecar(tmp_path: Path) -> None:
    train_pump(tmp_path, 400)
    run = tmp_path / "run.csv"
    make_series(300, start=5000).to_csv(run, index=False)
    out = tmp_path / "run.scored.csv"
    result = run_cli("score", "pump", str(run), "-o", str(out), "--baseline-rows", "500",
                     "--workspace", str(tmp_path), env=ONE_THREAD)
    assert result.returncode == 2
    assert "run.csv: the file has 300 row(s) — --baseline-rows 500 needs" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    result = run_cli("score", "pump", str(run), "-o", str(out), "--baseline-rows", "100",
                     "--threshold", "0.5", "--workspace", str(tmp_path), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    events = pd.read_csv(tmp_path / "run.scored.events.csv")
    assert list(events.columns) == ["start", "end", "rows", "flagged_rows", "peak_time",
                                    "peak_score", "top_features"]
    assert "alarm event(s) → " in result.stdout
    scored = pd.read_csv(out)
    assert events["flagged_rows"].sum() == scored["is_anomaly"].sum()
