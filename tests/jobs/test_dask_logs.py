"""A raw log cut into byte ranges on a 2-worker LocalCluster scores as the local engine does:
sessions counted apart and merged by key, continuation lines at range starts, windows closed
after the merge."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed", reason="the optional dask extra is not installed")

from anomaly import Detector
from anomaly.jobs.batch import LocalEngine
from anomaly.jobs.dask_engine import DaskEngine, dask_engine
from anomaly.kinds.logs.ranges import LogRanges
from tests.conftest import ROOT, run_cli
from tests.kinds.logs.logkit import NEW_TEMPLATE, make_log

FAST = {"max_epochs": 6, "patience": 0, "batch_size": 32, "progress_bar": False}
RANGE_BYTES = 500  # ~6 lines a range: ~50 ranges


@pytest.fixture(scope="module")
def engine() -> Iterator[DaskEngine]:
    with dask_engine(workers=2, processes=False) as eng:
        eng.partition_bytes = RANGE_BYTES
        yield eng


def traced_log(folder: Path) -> Path:
    """Two HDFS-like logs merged line by line, with a stack trace (lines without a time, one
    holding a key) after every 7th line, so that many ranges start inside one; plus a blank
    line, a keyless line and bad UTF-8."""
    make_log(folder / "a.log", 25, seed=3, odd={4: NEW_TEMPLATE})
    make_log(folder / "b.log", 25, seed=4)
    a = (folder / "a.log").read_bytes().splitlines()
    b = (folder / "b.log").read_bytes().splitlines()
    lines: list[bytes] = []
    for i in range(max(len(a), len(b))):
        lines += a[i:i + 1] + b[i:i + 1]
        if i % 7 == 3:
            key = lines[-1].rsplit(b"blk_", 1)[1].split()[0]
            lines += [b"java.io.IOException: Connection reset by peer for blk_" + key,
                      b"    at org.apache.hadoop.dfs.DataNode.run(DataNode.java:123)",
                      b"    at java.lang.Thread.run(Thread.java:619)"]
        if i == 20:
            stamp = lines[-1][:19]
            lines += [b"", stamp + b" INFO dfs.DataNode: bad \xff bytes blk_300003",
                      stamp + b" INFO no key on this line"]
    path = folder / "traced.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def scored(engine: DaskEngine, det: Detector, path: Path, out: Path,
           caplog: pytest.LogCaptureFixture) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The local and the Dask engine's output for `path`, and each one's warnings."""
    frames, warned = [], []
    logging.getLogger("anomaly").propagate = True  # the CLI turns it off when imported
    for name, eng in (("local", LocalEngine()), ("dask", engine)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="anomaly"):
            eng.score(det, path, out / f"{name}.csv", None, None)
        frames.append(pd.read_csv(out / f"{name}.csv"))
        warned.append(sorted(r.getMessage() for r in caplog.records if not r.getMessage()
                             .startswith("dask:")))
    assert warned[0] == warned[1] and warned[0], warned
    return frames[0], frames[1], warned[0]


def leading_ranges(det: Detector, path: Path) -> int:
    """How many ranges start with lines without a time (their reader hands them back)."""
    ranges = det.kind_.byte_ranges(det.model_, path, RANGE_BYTES)
    assert isinstance(ranges, LogRanges) and len(ranges.spans) > 40
    parts = [ranges.read(det.model_, i) for i in range(len(ranges.spans))]
    for part in parts:  # plain values only: lists, arrays, numbers, text
        assert all(isinstance(v, list | np.ndarray | int | float | str | dict | None)
                   for v in part.values())
    return sum(bool(part["leading"]) for part in parts)


@pytest.mark.slow
def test_dask_byte_ranges_equal_local_engine(engine: DaskEngine, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture,
                                             one_thread: None) -> None:
    make_log(tmp_path / "train.log", 120, seed=1)
    det = Detector("logs", session_regex=r"blk_-?\d+", **FAST).fit([tmp_path / "train.log"])
    det.save(tmp_path / "models", "regex")
    path = traced_log(tmp_path)
    assert leading_ranges(det, path) >= 5
    local, dask, warned = scored(engine, det, path, tmp_path, caplog)
    pd.testing.assert_frame_equal(dask, local, check_exact=True)  # one batch: bit for bit
    assert len(local) == 50 and local["last_line"].max() == path.read_bytes().count(b"\n")
    assert any("not UTF-8 (first at line" in w for w in warned)
    traced = local.set_index("session").loc["blk_300003"]
    assert traced["n_lines"] >= 5  # its stack trace's keyed line joined it


@pytest.mark.slow
def test_dask_byte_ranges_close_windows_after_merging(engine: DaskEngine, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture,
                                                       one_thread: None) -> None:
    make_log(tmp_path / "train.log", 200, seed=5)
    det = Detector("logs", session_window="30s", **FAST).fit([tmp_path / "train.log"])
    det.save(tmp_path / "models", "windows")
    path = traced_log(tmp_path)
    assert leading_ranges(det, path) >= 5
    local, dask, _ = scored(engine, det, path, tmp_path, caplog)
    # windows close as the merged time moves: scored in other batches, the float32 products
    # may round differently; everything else is equal
    scores = ["anomaly_score", "score_percentile"]
    pd.testing.assert_frame_equal(dask.drop(columns=scores), local.drop(columns=scores),
                                  check_exact=True)
    np.testing.assert_allclose(dask["anomaly_score"], local["anomaly_score"], rtol=1e-5)
    every = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    assert len(local) == 6 and local["n_lines"].sum() == every  # untimed lines joined too


@pytest.mark.slow
def test_score_cli_engine_dask_equals_local(tmp_path: Path) -> None:
    """`anomaly score --engine dask` (a LocalCluster of worker processes) writes what the
    local engine writes; --workers without --engine dask is a usage error."""
    fixtures = ROOT / "tests" / "fixtures" / "v1"
    common = ["score", "logs", str(fixtures / "logs_test.log"), "--workspace",
              str(fixtures / "workspace"), "--show", "0"]
    local = run_cli(*common, "-o", str(tmp_path / "local.csv"))
    dask = run_cli(*common, "-o", str(tmp_path / "dask.csv"), "--engine", "dask",
                   "--workers", "1")
    assert local.returncode == 0 == dask.returncode, dask.stderr
    assert "local cluster of 1" in dask.stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    wrong = run_cli(*common, "-o", str(tmp_path / "x.csv"), "--workers", "2")
    assert wrong.returncode == 2 and "need --engine dask" in wrong.stderr
    assert "Traceback" not in wrong.stderr and not (tmp_path / "x.csv").exists()
