"""Progress bars: on a terminal they count rows (with rows/s and time left) on stderr; with
stderr not a terminal, or with --quiet, nothing extra is written."""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

import anomaly.cli.progress as progress
from anomaly.cli.progress import estimate_rows, file_progress
from anomaly.core.persist import load_fitted
from anomaly.jobs.score import score_file
from tests.conftest import ROOT, run_main

# a fresh interpreter whose bars show for any file size (the real CLI shows them over 50 MB)
SMALL_BARS = """
import sys
import anomaly.cli.progress
anomaly.cli.progress.MIN_BYTES = 0
from anomaly.cli import main
main(sys.argv[1:])
"""


def test_bar_counts_the_rows_scored(workspace: Path, tabular_files: dict[str, Path],
                                    tmp_path: Path) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    src = tabular_files["test"]
    with file_progress(src, console) as advance:
        summary = score_file(load_fitted("toy", workspace / "models"), src,
                             tmp_path / "out.csv", progress=advance)
    shown = screen.getvalue()
    assert summary.rows == 300
    assert "300 rows" in shown and "rows/s" in shown and src.name in shown
    assert "100%" not in shown or "300 rows" in shown  # the bar ends at the rows read


def test_row_estimate_is_close_for_csv(tabular_files: dict[str, Path], tmp_path: Path) -> None:
    assert estimate_rows(tabular_files["test"]) == pytest.approx(300, rel=0.05)
    parquet = tmp_path / "t.parquet"
    pd.read_csv(tabular_files["test"]).to_parquet(parquet)
    assert estimate_rows(parquet) == 300


def test_no_bar_when_stderr_is_not_a_terminal(workspace: Path, tabular_files: dict[str, Path],
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MIN_BYTES", 0)
    args = ("score", "toy", str(tabular_files["test"]), "-o", str(tmp_path / "out.csv"),
            "--show", "0", "--workspace", str(workspace))
    plain, quiet = run_main(*args), run_main(*args, "--quiet")
    assert plain.returncode == quiet.returncode == 0
    assert plain.stderr == quiet.stderr  # only the notes (here: the unused label column)
    assert "rows/s" not in plain.stderr


def in_terminal(*args: str) -> str:
    """Run `anomaly ARGS` with stderr on a pseudo-terminal; what the terminal showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SMALL_BARS, *args], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower, env={**os.environ, "COLUMNS": "120"})
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        shown += data
    os.close(leader)
    assert proc.wait(timeout=60) == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


@pytest.mark.slow
def test_score_and_batch_show_bars_on_a_terminal(workspace: Path,
                                                 tabular_files: dict[str, Path],
                                                 tmp_path: Path) -> None:
    ws = ["--workspace", str(workspace)]
    shown = in_terminal("score", "toy", str(tabular_files["test"]), "-o",
                        str(tmp_path / "out.csv"), "--show", "0", *ws)
    assert "300 rows" in shown and "rows/s" in shown
    quiet = in_terminal("score", "toy", str(tabular_files["test"]), "-o",
                        str(tmp_path / "out.csv"), "--show", "0", "--quiet", *ws)
    assert "rows/s" not in quiet

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(tabular_files["test"], inbox / "first.csv")
    pd.read_csv(tabular_files["test"]).head(200).to_csv(inbox / "second.csv", index=False)
    ledger = tmp_path / "ledger"
    shutil.copytree(workspace / "models", ledger / "models")
    batch = in_terminal("batch", "toy", "--inbox", str(inbox), "--outbox",
                        str(tmp_path / "outbox"), "--workspace", str(ledger))
    assert "first.csv" in batch and "second.csv" in batch and "rows/s" in batch
    assert "300 rows" in batch and "200 rows" in batch
