"""Classes 1, 6, 7: outputs never destroy anything; CSVs are spreadsheet-safe; printed data is
escaped and cut."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from anomaly.outputs import csv_safe
from tests.reliability.kit import data_file, one_error, private_ws, score

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(A1:A2)", "-2+3",
            "\tTAB"]


@pytest.fixture
def ws(workspace: Path, tmp_path: Path) -> Path:
    return private_ws(workspace, tmp_path)


def test_output_that_is_the_input_is_refused_and_the_input_kept(ws: Path, tmp_path: Path
                                                                ) -> None:
    data = data_file(tmp_path)
    before = data.read_bytes()
    message = one_error(score(ws, str(data), "-o", str(data)))
    assert "is the input" in message
    assert data.read_bytes() == before
    # the same file under another name (a hard link) is the same input
    link = tmp_path / "alias.csv"
    os.link(data, link)
    assert "is the input" in one_error(score(ws, str(data), "-o", str(link)))
    assert data.read_bytes() == before


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_output_that_is_not_a_regular_file_is_refused(ws: Path, tmp_path: Path,
                                                      kind: str) -> None:
    data = data_file(tmp_path)
    target = {"fifo": tmp_path / "pipe", "folder": tmp_path / "dir", "device": Path("/dev/null")
              }[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    mode = target.stat().st_mode
    message = one_error(score(ws, str(data), "-o", str(target)))
    assert "not a regular file" in message
    assert target.stat().st_mode == mode  # still a FIFO / folder / character device
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def test_dash_writes_csv_to_standard_output(ws: Path, tmp_path: Path) -> None:
    data = data_file(tmp_path, rows=25)
    result = score(ws, str(data), "-o", "-", "--show", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith('"row_id"') and len(lines) == 26  # header + one line per row
    assert "25 rows" in result.stderr  # the summary goes to standard error
    assert not (ws / "scores").exists()


def test_formula_cells_are_neutralised_in_csv_but_not_in_parquet(ws: Path, tmp_path: Path
                                                                 ) -> None:
    ids = [*FORMULAS, *[f"r{i}" for i in range(40 - len(FORMULAS))]]
    data = data_file(tmp_path, row_id=ids)
    csv_out, pq_out = tmp_path / "out.csv", tmp_path / "out.parquet"
    for out in (csv_out, pq_out):
        assert score(ws, str(data), "-o", str(out), "--show", "0").returncode == 0
    scored = pd.read_csv(csv_out, keep_default_na=False)
    assert list(scored["row_id"][:len(FORMULAS)]) == [f"'{v}" for v in FORMULAS]
    assert scored["row_id"].iloc[-1] == ids[-1]
    assert pd.api.types.is_float_dtype(scored["anomaly_score"])  # numbers stay numbers
    parquet = pd.read_parquet(pq_out)
    assert list(parquet["row_id"][:len(FORMULAS)]) == FORMULAS
    assert scored["anomaly_score"].to_numpy() == pytest.approx(parquet["anomaly_score"])


def test_printed_data_is_escaped_and_long_cells_cut(ws: Path, tmp_path: Path) -> None:
    evil = "\x1b]0;pwned\x07\x1b[2J" + "x" * 200_000
    ids = [evil, *[f"r{i}" for i in range(39)]]
    data = data_file(tmp_path, row_id=ids)
    out = tmp_path / "out.csv"
    result = score(ws, str(data), "-o", str(out), "--threshold", "-1", "--show", "40")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b]0;pwned" in result.stdout
    assert len(result.stdout) < 20_000
    assert pd.read_csv(out)["row_id"].iloc[0] == evil  # the file keeps the full value


def test_csv_safe_touches_only_formula_like_text() -> None:
    table = pa.table({"=name": ["\rCR", "ok", None, "-x"], "n": [-1.0, 2.0, 3.0, 4.0],
                      "k": pa.array(["@a", "b", "b", "b"]).dictionary_encode()})
    safe = csv_safe(table).to_pydict()
    assert safe == {"'=name": ["'\rCR", "ok", None, "'-x"], "n": [-1.0, 2.0, 3.0, 4.0],
                    "k": ["'@a", "b", "b", "b"]}

