"""Property tests (Hypothesis) of the CSV reader and the feature transform: for any generated
file, `anomaly score` either scores it or exits 2 with one message — never a traceback, never
a partial output."""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from anomaly.errors import AnomalyError
from anomaly.kinds.tabular.features import TabularFeatures
from tests.reliability.kit import private_ws, score

COLUMNS = ["row_id", "a", "b", "c", "color"]
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                    st.sampled_from([1e300, -1e-300, 0.0]))
WORDS = st.one_of(st.sampled_from(["", "NA", "n/a", "null", "red", "=1+1", "\x1b[2J", "abc",
                                   " 1.5 ", "1e5", "TRUE"]),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))
CELLS = st.one_of(NUMBERS.map(str), WORDS)
# more examples for a longer hunt: ANOMALY_PROPERTY_EXAMPLES=500 pytest tests/reliability
PROPERTY = settings(max_examples=int(os.environ.get("ANOMALY_PROPERTY_EXAMPLES", "40")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """CSV bytes: the model's columns (some missing, some extra, shuffled), odd cells, and
    sometimes broken quoting, ragged rows or another delimiter."""
    header = draw(st.one_of(
        st.permutations(COLUMNS),  # often the model's own columns: the cells are then tested
        st.permutations(COLUMNS).map(lambda c: [*c, "=evil"]),
        st.lists(st.sampled_from([*COLUMNS, "extra"]), max_size=7)))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header)),
                         max_size=8))
    style = draw(st.sampled_from(["csv", "raw", "ragged", "semicolon"]))
    if style == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        text = out.getvalue()
    else:
        sep = ";" if style == "semicolon" else ","
        lines = [sep.join(header), *(sep.join(r[:len(r) - (i % 2 if style == "ragged" else 0)])
                                     for i, r in enumerate(rows))]
        text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return text.encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def model_ws(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return private_ws(workspace, tmp_path_factory.mktemp("prop"))


@PROPERTY
@given(data=csv_files())
def test_score_scores_or_refuses_with_one_message(model_ws: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "in.csv", Path(folder) / "out.csv"
        source.write_bytes(data)
        result = score(model_ws, str(source), "-o", str(out), "--show", "3")
        assert result.returncode in (0, 2), result.stderr
        event(f"exit {result.returncode}")
        assert "Traceback" not in result.stderr
        left = sorted(p.name for p in Path(folder).iterdir())
        if result.returncode == 2:
            assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
            assert left == ["in.csv"]  # no output, no temporary file
        else:
            assert left == ["in.csv", "out.csv"]
            scored = pd.read_csv(out)
            assert {"anomaly_score", "is_anomaly"} <= set(scored.columns) and len(scored)


@st.composite
def frames(draw: st.DrawFn, names: list[str] | None = None) -> pd.DataFrame:
    """Small frames of numeric, text, mixed and empty columns (named `names` when given)."""
    n = draw(st.integers(1, 12))
    columns = {}
    for name in names or [f"c{i}" for i in range(draw(st.integers(1, 4)))]:
        kind = draw(st.sampled_from(["float", "text", "mixed", "empty"]))
        if kind == "float":
            values: list[object] = draw(st.lists(NUMBERS, min_size=n, max_size=n))
        elif kind == "text":
            values = draw(st.lists(WORDS, min_size=n, max_size=n))
        elif kind == "mixed":
            values = draw(st.lists(st.one_of(NUMBERS, WORDS, st.none()), min_size=n,
                                   max_size=n))
        else:
            values = [None] * n
        columns[name] = pd.Series(values, dtype=float if kind == "float" else object)
    return pd.DataFrame(columns)


@PROPERTY
@given(train=frames(), data=st.data())
def test_feature_transform_is_finite_or_refused(train: pd.DataFrame, data: st.DataObject
                                                ) -> None:
    try:
        features = TabularFeatures().fit(train)
    except AnomalyError:
        return
    score_frame = data.draw(frames(list(train.columns)))
    try:
        inputs, kept = features.transform(score_frame)
    except AnomalyError:
        return
    assert inputs.shape == (int(kept.sum()), len(features.input_names))
    assert inputs.dtype == np.float32 and np.isfinite(inputs).all()
    assert not any(math.isnan(v) for v in inputs.ravel().tolist())
