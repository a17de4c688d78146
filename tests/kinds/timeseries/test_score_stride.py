"""Time series: scoring with a window every `score_stride` rows (fewer network calls per row)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly import Detector, load_detector
from anomaly.errors import ConfigError
from anomaly.jobs.score import score_file
from anomaly.kinds.timeseries.features import window_starts
from tests.kinds.timeseries.test_timeseries import FAST, WINDOW, make_series


@pytest.fixture(scope="module")
def grouped() -> Detector:
    """Two machines, windows every 5 rows (5 does not divide the window of 16)."""
    a, b = make_series(300, seed=1), make_series(300, seed=2)
    a["machine"], b["machine"] = "m1", "m2"
    return Detector("timeseries", **FAST, group_col="machine", score_stride=5,
                    max_epochs=3).fit(pd.concat([a, b]))


def test_windows_follow_each_segments_grid_and_cover_its_end() -> None:
    starts = np.zeros(26, dtype=bool)
    starts[[0, 12, 20]] = True  # segments 0–11, 12–19 and 20–25 (shorter than the window)
    first, end = window_starts(starts, 8, stride=3)
    assert first.tolist() == [0, 3, 4, 12, 20]
    assert end.tolist() == [12, 12, 12, 20, 26]
    # a block that starts 2 rows into a segment keeps that segment's grid
    assert window_starts(np.arange(10) == 0, 8, stride=3, phase=2)[0].tolist() == [1, 2]


def test_every_row_is_covered_and_the_network_runs_about_window_over_stride_times() -> None:
    starts = np.arange(1000) % 250 == 0
    first, end = window_starts(starts, WINDOW, stride=4)
    covered = np.zeros(1000, dtype=int)
    for a, b in zip(first, np.minimum(first + WINDOW, end), strict=True):
        covered[a:b] += 1
    assert covered.min() == 1  # segment edges, as with a window at every row
    assert np.median(covered) == WINDOW // 4
    assert len(first) < 1000 / 4 + 8


def test_chunked_scoring_equals_whole_file_with_groups_gaps_and_a_stride(
        grouped: Detector, tmp_path: Path) -> None:
    test = pd.concat([make_series(230, seed=5, start=900).assign(machine="m1"),
                      make_series(170, seed=6, start=905).assign(machine="m2")])
    test = test.sort_values("t", kind="stable")  # the groups interleave in time
    test.loc[test["t"] > 1003, "t"] += 60  # a gap in both groups
    test.loc[test["t"] == 1100, "a"] += 3.0
    path = tmp_path / "run.csv"
    test.to_csv(path, index=False)
    whole = grouped.score_frame(pd.read_csv(path))
    for block in (60, 500, 4000, 1 << 20):  # CSV blocks of bytes: ~1, 7, 60 rows, all
        out = tmp_path / f"scored_{block}.csv"
        score_file(grouped, path, out, block_bytes=block)
        chunked = pd.read_csv(out, keep_default_na=False)
        assert chunked["t"].tolist() == whole["t"].tolist()
        np.testing.assert_allclose(chunked["anomaly_score"], whole["anomaly_score"], rtol=1e-6)
        assert chunked["top_features"].tolist() == whole["top_features"].tolist()


def test_explaining_a_timestamp_gives_its_whole_file_score(grouped: Detector) -> None:
    test = make_series(200, seed=7, start=900).assign(machine="m1")
    test.loc[test["t"] > 1040, "t"] += 60  # a gap: a second segment with its own grid
    whole = grouped.row_scores(test)
    for position in (0, 3, 17, 33, 140, 141, 150, 183, 199):
        assert grouped.explain_item(test, position).score == pytest.approx(
            whole.scores[position], rel=1e-5)


def test_a_stride_scores_close_to_every_window(tmp_path: Path) -> None:
    train, test = make_series(600), make_series(300, seed=5, start=2000)
    test.loc[150, "b"] += 4.0
    scores = {k: Detector("timeseries", **FAST, max_epochs=8, score_stride=k).fit(train)
              .anomaly_scores(test) for k in (1, 4)}
    assert np.corrcoef(scores[1], scores[4])[0, 1] > 0.95
    assert int(np.argmax(scores[4])) in range(150 - WINDOW, 150 + WINDOW)


def test_the_stride_is_kept_in_the_bundle_and_older_bundles_score_every_window(
        grouped: Detector, tmp_path: Path) -> None:
    folder = grouped.save(tmp_path / "models", "pump")
    assert load_detector(folder).features_.score_stride == 5
    meta_path = folder / "bundle.json"
    meta = json.loads(meta_path.read_text())
    assert meta["features"]["score_stride"] == 5
    del meta["features"]["score_stride"]
    from anomaly.kinds.timeseries.features import TimeseriesFeatures
    assert TimeseriesFeatures.from_json(meta["features"]).score_stride == 1


@pytest.mark.parametrize("stride", [0, WINDOW + 1])
def test_a_stride_outside_one_to_the_window_is_refused(stride: int) -> None:
    with pytest.raises(ConfigError, match="score_stride must be in 1"):
        Detector("timeseries", **FAST, score_stride=stride).fit(make_series(100))
