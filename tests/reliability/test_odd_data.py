"""Class 12: odd data is reported, not silently absorbed."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly.kinds.tabular.features import TabularFeatures
from tests.conftest import make_tabular
from tests.reliability.kit import data_file, one_error, private_ws, score


@pytest.fixture
def ws(workspace: Path, tmp_path: Path) -> Path:
    return private_ws(workspace, tmp_path)


def test_all_missing_columns_are_dropped_with_a_note(caplog: pytest.LogCaptureFixture) -> None:
    frame = make_tabular(60).drop(columns=["row_id", "label"])
    frame["empty"] = np.nan
    frame["na"] = pd.Series([None] * 60, dtype=object)
    with caplog.at_level(logging.WARNING, logger="anomaly"):
        features = TabularFeatures().fit(frame)
    assert "empty" not in features.feature_columns and "na" not in features.feature_columns
    assert caplog.text.count("has no values") == 2


def test_a_feature_column_missing_in_every_scored_row_is_warned(ws: Path, tmp_path: Path
                                                                ) -> None:
    data = data_file(tmp_path, a=[np.nan] * 40)
    result = score(ws, str(data), "-o", str(tmp_path / "out.csv"), "--show", "0")
    assert result.returncode == 0, result.stderr
    assert "column(s) a have no values" in result.stderr


def test_huge_values_are_scaled_not_dropped_as_constant() -> None:
    frame = make_tabular(60).drop(columns=["row_id", "label"])
    frame["huge"] = np.random.default_rng(0).normal(size=60) * 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        features = TabularFeatures().fit(frame)
        inputs, _ = features.transform(frame)
    assert "huge" in features.feature_columns
    assert np.isfinite(inputs).all() and inputs[:, features.input_names.index("huge")].std() > 0.5


def test_ids_are_text_and_round_trip_exactly(ws: Path, tmp_path: Path) -> None:
    ids = ["NA", "null", "", "N/A", "007", *[f"r{i}" for i in range(35)]]
    data = data_file(tmp_path, row_id=ids)
    out = tmp_path / "out.csv"
    assert score(ws, str(data), "-o", str(out), "--show", "0").returncode == 0
    scored = pd.read_csv(out, keep_default_na=False, dtype={"row_id": str})
    assert list(scored["row_id"]) == ids


def test_a_fifo_is_named_as_what_it_is(ws: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    message = one_error(score(ws, str(fifo), "-o", str(tmp_path / "out.csv")))  # no hang
    assert "FIFO or pipe" in message and "save the data to a file" in message
