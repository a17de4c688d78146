"""The Parquet copy of a scored CSV (`anomaly.sidecar`): written by `anomaly score`, read by
the dashboard while it matches the CSV, ignored once the CSV changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from anomaly.analysis.scored import read_scored
from anomaly.analysis.workspace import list_scored
from anomaly.core.persist import load_fitted
from anomaly.io import read_table
from anomaly.jobs.score import score_file
from anomaly.sidecar import fresh_sidecar, sidecar_path
from tests.conftest import run_main


def test_copy_holds_the_csv_rows(workspace: Path, tabular_files: dict[str, Path],
                                 tmp_path: Path) -> None:
    out = tmp_path / "scores" / "test.scored.csv"
    score_file(load_fitted("toy", workspace / "models"), tabular_files["test"], out,
               chunk_rows=100, block_bytes=4096, sidecar=True)
    assert fresh_sidecar(out) == sidecar_path(out)
    copy = pd.read_parquet(sidecar_path(out))
    pd.testing.assert_frame_equal(copy, read_table(out), check_dtype=False)
    assert list_scored(tmp_path) == [out]  # the hidden copy is not offered as a file

    frame = read_scored(out)
    pd.testing.assert_frame_equal(frame, read_table(out), check_dtype=False)


def test_a_changed_csv_is_read_again(workspace: Path, tabular_files: dict[str, Path],
                                     tmp_path: Path) -> None:
    out = tmp_path / "test.scored.csv"
    score_file(load_fitted("toy", workspace / "models"), tabular_files["test"], out,
               sidecar=True)
    edited = read_table(out).head(5)
    edited.to_csv(out, index=False)
    stamp = sidecar_path(out).stat().st_mtime_ns + 1_000_000_000
    os.utime(out, ns=(stamp, stamp))
    assert fresh_sidecar(out) is None
    assert len(read_scored(out)) == 5

    plain = tmp_path / "plain.scored.csv"  # without the option (Python API): no copy
    score_file(load_fitted("toy", workspace / "models"), tabular_files["test"], plain)
    assert not sidecar_path(plain).exists() and fresh_sidecar(plain) is None


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_cli_score_leaves_a_copy_in_the_workspace_scores_only(
        workspace: Path, tabular_files: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(workspace / "models", ws / "models")
    out = ws / "scores" / f"test.scored.{suffix}"
    elsewhere = tmp_path / f"elsewhere.scored.{suffix}"
    for target in (out, elsewhere):
        result = run_main("score", "toy", str(tabular_files["test"]), "-o", str(target),
                          "--show", "0", "--workspace", str(ws))
        assert result.returncode == 0, result.stderr
        assert len(read_scored(target)) == 300
    assert (fresh_sidecar(out) is not None) == (suffix == "csv")
    assert not sidecar_path(elsewhere).exists()  # the dashboard never looks there
