"""Shared fixtures: tiny seeded data and one trained bundle per test session."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch with `n` intra-op threads inside the block (tiny networks: more only contend)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test."""
    with torch_threads(1):
        yield


FAST = {"max_epochs": 15, "patience": 5, "batch_size": 64, "progress_bar": False}


def make_tabular(n: int = 600, seed: int = 0, anomalies: int = 0) -> pd.DataFrame:
    """Correlated numerics + a categorical + an id column; anomalies break the correlation."""
    rng = np.random.default_rng(seed)
    load = rng.normal(size=n)
    frame = pd.DataFrame({
        "row_id": [f"r{i:05d}" for i in range(n)],
        "a": load + 0.1 * rng.normal(size=n),
        "b": 2 * load + 0.1 * rng.normal(size=n),
        "c": -load + 0.1 * rng.normal(size=n),
        "color": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]),
        "label": 0,
    })
    if anomalies:
        idx = rng.choice(n, anomalies, replace=False)
        frame.loc[idx, "b"] = -2 * frame.loc[idx, "a"] + rng.choice([-3, 3], anomalies)
        frame.loc[idx, "label"] = 1
    return frame


@pytest.fixture(scope="session")
def tabular_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tabular")
    train = folder / "train.csv"
    test = folder / "test.csv"
    make_tabular(600, seed=1).drop(columns=["label"]).to_csv(train, index=False)
    make_tabular(300, seed=2, anomalies=15).to_csv(test, index=False)
    return {"train": train, "test": test, "folder": folder}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory, tabular_files: dict[str, Path]) -> Path:
    """A workspace holding model 'toy' trained once through the real CLI."""
    ws = tmp_path_factory.mktemp("ws")
    result = run_cli("train", str(tabular_files["train"]), "--name", "toy", "--id-col", "row_id",
                     "--epochs", "30", "--patience", "5", "--batch-size", "64", "--no-progress",
                     "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    return ws


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 240,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `anomaly` CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "anomaly.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


@dataclass
class CliResult:
    """Exit code and captured output of one in-process CLI call."""

    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str) -> CliResult:
    """Run `anomaly.cli.main` in this process (no 4 s interpreter start) and capture its output.

    Same entry point as the console script; an exception that `main` lets through fails the test,
    just as it would print a traceback in a real run. The 'anomaly' logger is restored afterwards
    so that other tests' `caplog` still sees its records.
    """
    from anomaly.cli import main

    logger = logging.getLogger("anomaly")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    return CliResult(code if isinstance(code, int) else 1, out.getvalue(), err.getvalue())


def toy_meta(ws: Path, version: int = 1) -> dict[str, Any]:
    """bundle.json of version `version` of model 'toy' in workspace `ws`."""
    meta: dict[str, Any] = json.loads(
        (ws / "models" / "toy" / f"v{version}" / "bundle.json").read_text())
    return meta


def score_toy(ws: Path, data: Path, out: Path, *extra: str) -> pd.DataFrame:
    """`anomaly score toy DATA -o OUT.parquet` in process; the scored frame."""
    result = run_main("score", "toy", str(data), "-o", str(out), "--show", "0", *extra,
                      "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    return pd.read_parquet(out)
