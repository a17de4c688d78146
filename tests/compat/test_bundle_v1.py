"""Bundles written before the Kind refactor (format v1, one per kind) still load and score the
same: tests/fixtures/v1 holds them with their inputs and the scores the old code gave."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly import Detector, load_detector
from anomaly.jobs.score import score_file
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "v1"
INPUTS = {"tabular": "tabular_test.csv", "timeseries": "timeseries_test.csv",
          "logs": "logs_test.log"}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_old_bundle_loads_and_scores_as_before(kind: str, tmp_path: Path) -> None:
    detector = load_detector(kind, FIXTURES / "workspace" / "models")
    assert isinstance(detector, Detector) and detector.kind == kind
    out = tmp_path / "scored.csv"
    score_file(detector, FIXTURES / INPUTS[kind], out)
    got, expected = pd.read_csv(out), pd.read_csv(FIXTURES / f"{kind}_expected.csv")
    assert got.columns.tolist() == expected.columns.tolist()
    np.testing.assert_allclose(got["anomaly_score"], expected["anomaly_score"], rtol=1e-5)
    assert got["is_anomaly"].tolist() == expected["is_anomaly"].tolist()
    assert got["top_features"].tolist() == expected["top_features"].tolist()
    carried = [c for c in expected.columns if c not in (
        "anomaly_score", "score_percentile", "is_anomaly", "top_features")]
    pd.testing.assert_frame_equal(got[carried], expected[carried])


@pytest.mark.parametrize("kind", list(INPUTS))
def test_old_bundle_takes_a_new_threshold_version(kind: str, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(FIXTURES / "workspace" / "models" / kind, models / kind)
    detector = load_detector(kind, models)
    from anomaly.core.thresholds import choose_threshold

    detector.set_threshold(choose_threshold("manual", detector.validation_scores_, value=5.0),
                           by="test", why="compat")
    detector.save_threshold()
    again = load_detector(kind, models)
    assert again.threshold_ == 5.0 and again.threshold_info_["version"] == 2
    assert [e["method"] for e in again.threshold_info_["history"]][-1] == "manual"
