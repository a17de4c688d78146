"""Helpers of the reliability tests: a private workspace, edited bundles, scored outputs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anomaly.bundle import update_meta
from tests.conftest import CliResult, make_tabular, run_main, toy_meta


def private_ws(model_ws: Path, tmp: Path) -> Path:
    """A fresh workspace holding a copy of the session's trained model 'toy'."""
    ws = tmp / "ws"
    shutil.copytree(model_ws / "models", ws / "models")
    return ws


def edit_meta(ws: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Edit toy v1's bundle.json and recompute its checksum, as a careful attacker would."""
    meta = toy_meta(ws)
    change(meta)
    folder = ws / "models" / "toy" / "v1"
    update_meta(folder, meta)
    return folder


def data_file(folder: Path, name: str = "data.csv", rows: int = 40, seed: int = 7,
              **columns: list[Any]) -> Path:
    """A small scoreable CSV (the toy model's columns), with `columns` replacing some."""
    frame = make_tabular(rows, seed=seed, anomalies=2)
    for column, values in columns.items():
        frame[column] = values
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def score(ws: Path, *args: str) -> CliResult:
    """`anomaly score toy ARGS --workspace WS` in process."""
    return run_main("score", "toy", *args, "--workspace", str(ws))


def one_error(result: CliResult) -> str:
    """The single `error:` message of a refused command (exit 2, no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]
