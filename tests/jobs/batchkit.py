"""Helpers shared by the batch, ledger and Dask tests: workspaces, inboxes, in-process CLI."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from anomaly.cli import main
from tests.conftest import make_tabular


def new_workspace(model_ws: Path, tmp: Path) -> Path:
    """A fresh workspace holding a copy of the session's trained model 'toy'."""
    ws = tmp / "ws"
    shutil.copytree(model_ws / "models", ws / "models")
    return ws


def batch_args(ws: Path, *extra: str) -> list[str]:
    """`anomaly batch toy` on <ws>/inbox into <ws>/outbox (files just written count as
    settled), plus `extra` flags."""
    return ["batch", "toy", "--inbox", str(ws / "inbox"), "--outbox", str(ws / "outbox"),
            "--settle", "0", "--workspace", str(ws), *extra]


def fill_inbox(inbox: Path, n: int = 2, rows: int = 120, first_seed: int = 20) -> list[Path]:
    """`n` small scoreable CSV files f0.csv … in `inbox`."""
    inbox.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = inbox / f"f{i}.csv"
        make_tabular(rows, seed=first_seed + i, anomalies=3).to_csv(path, index=False)
        settled(path)
        paths.append(path)
    return paths


def settled(path: Path) -> Path:
    """Date `path` a minute back, past the batch settle age (it is complete, not being written)."""
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the real CLI entry point in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ledger_files(ws: Path) -> pd.DataFrame:
    """All rows of the ledger's files table."""
    with sqlite3.connect(ws / "runs.db") as db:
        return pd.read_sql_query("SELECT * FROM files ORDER BY id", db)


def ledger_runs(ws: Path) -> pd.DataFrame:
    """All rows of the ledger's runs table."""
    with sqlite3.connect(ws / "runs.db") as db:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY started_at", db)
