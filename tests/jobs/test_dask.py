"""The Dask engine gives the same output as the local engine (LocalCluster, 2 in-process
workers)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, make_tabular

pytest.importorskip("dask.distributed", reason="the optional dask extra is not installed")

from anomaly import load_detector
from anomaly.errors import InputError
from anomaly.jobs.batch import LocalEngine
from anomaly.jobs.dask_engine import DaskEngine, dask_engine, plan_partitions
from anomaly.sidecar import fresh_sidecar, sidecar_path


@pytest.fixture(scope="module")
def detector(workspace: Path) -> Any:
    return load_detector("toy", workspace / "models")


@pytest.fixture(scope="module")
def engine() -> Iterator[DaskEngine]:
    with dask_engine(workers=2, processes=False) as eng:
        eng.partition_bytes = 20_000  # ~8 partitions for 2,000 rows
        yield eng


def test_partitions_cover_every_row_once(tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    make_tabular(2000, seed=3).to_csv(src, index=False)
    parts = plan_partitions(src, 20_000)
    assert len(parts) > 4
    assert parts[0].row_offset == 0 and parts[0].start == len("row_id,a,b,c,color,label\n")
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert parts[-1].end == src.stat().st_size
    lines = src.read_bytes().splitlines(keepends=True)
    starts = [sum(map(len, lines[:p.row_offset + 1])) for p in parts]
    assert starts == [p.start for p in parts]


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_dask_engine_equals_local_engine(detector: Any, engine: DaskEngine, tmp_path: Path,
                                         suffix: str) -> None:
    src = tmp_path / f"in{suffix}"
    frame = make_tabular(2000, seed=4, anomalies=30)
    if suffix == ".csv":
        frame.to_csv(src, index=False)
    else:
        frame.to_parquet(src, row_group_size=300)
    local = LocalEngine().score(detector, src, tmp_path / "local.csv", None, None)
    dask = engine.score(detector, src, tmp_path / "dask.csv", None, None)
    assert (dask.rows, dask.anomalies) == (local.rows, local.anomalies) == (2000, local.anomalies)
    assert dask.quantiles == pytest.approx(local.quantiles)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask.csv"),
                                  pd.read_csv(tmp_path / "local.csv"))
    copied = engine.score(detector, src, tmp_path / "copied.csv", None, None, sidecar=True)
    assert copied.rows == 2000 and fresh_sidecar(tmp_path / "copied.csv") is not None
    pd.testing.assert_frame_equal(pd.read_parquet(sidecar_path(tmp_path / "copied.csv")),
                                  pd.read_csv(tmp_path / "copied.csv"), check_dtype=False)


def test_dask_engine_tells_a_progress_bar_every_row(detector: Any, engine: DaskEngine,
                                                    tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    make_tabular(2000, seed=5).to_csv(src, index=False)
    told: list[int] = []
    engine.score(detector, src, tmp_path / "out.csv", None, None, progress=told.append)
    assert sum(told) == 2000 and len(told) > 4  # partition by partition
    bars: list[Path] = []

    def bar(path: Path) -> Any:  # what `anomaly batch` gives: a bar per file
        bars.append(path)
        return contextlib.nullcontext(told.append)

    told.clear()
    engine.bars = bar
    try:
        engine.score(detector, src, tmp_path / "out2.csv", None, None)
    finally:
        engine.bars = None
    assert bars == [src] and sum(told) == 2000


@pytest.mark.slow
def test_dask_engine_reports_bad_rows_like_the_local_engine(detector: Any, engine: DaskEngine,
                                                            tmp_path: Path) -> None:
    frame = make_tabular(2000, seed=7).astype({"c": object})
    frame.loc[1777, "c"] = "bad"
    src = tmp_path / "bad.csv"
    frame.to_csv(src, index=False)
    messages = []
    for eng in (LocalEngine(), engine):
        with pytest.raises(InputError) as caught:
            eng.score(detector, src, tmp_path / "out.csv", None, None)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "column 'c' row 1,778: 'bad' is not a number" in messages[0]
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name"), [("timeseries", "timeseries_test.csv"),
                                            ("logs", "logs_test.log")])
def test_dask_engine_scores_windowed_and_session_kinds_whole(
        engine: DaskEngine, tmp_path: Path, kind: str, name: str) -> None:
    """Windows and sessions span rows: each file is one task, scored as the local engine does."""
    fixtures = ROOT / "tests" / "fixtures" / "v1"
    det = load_detector(kind, fixtures / "workspace" / "models")
    local = LocalEngine().score(det, fixtures / name, tmp_path / "local.csv", None, None)
    dask = engine.score(det, fixtures / name, tmp_path / "dask.csv", None, None)
    assert (dask.rows, dask.anomalies) == (local.rows, local.anomalies) and local.rows > 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask.csv"),
                                  pd.read_csv(tmp_path / "local.csv"))


@pytest.mark.slow
def test_dask_engine_scores_a_run_relative_model_as_the_local_engine(
        engine: DaskEngine, tmp_path: Path) -> None:
    """A run-relative model's warm-up comes with its bundle: a worker re-bases as here."""
    from anomaly import Detector
    from tests.kinds.timeseries.test_timeseries import FAST, make_series

    fitted = Detector("timeseries", **FAST, max_epochs=2, baseline_rows=100).fit(
        make_series(1500))
    fitted.save(tmp_path / "models", "runs")
    det = load_detector("runs", tmp_path / "models")
    src = tmp_path / "run.csv"
    run = make_series(400, seed=4, start=5000).assign(a=lambda f: 3.0 * f["a"] + 5.0)
    run.to_csv(src, index=False)
    local = LocalEngine().score(det, src, tmp_path / "local.csv", None, None)
    dask = engine.score(det, src, tmp_path / "dask.csv", None, None)
    assert (dask.rows, dask.anomalies) == (local.rows, local.anomalies) == (400, local.anomalies)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask.csv"),
                                  pd.read_csv(tmp_path / "local.csv"))
    np.testing.assert_allclose(pd.read_csv(tmp_path / "dask.csv")["anomaly_score"],
                               fitted.anomaly_scores(run), rtol=1e-5)  # re-based on its warm-up
