"""Distributed training: `--strategy ddp` on 2 CPU processes through the real CLI.

Lightning's ddp strategy re-launches the command once per extra rank; every rank trains on its
shard, and only rank 0 writes the bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_tabular, run_cli, run_main

pytestmark = pytest.mark.slow  # Lightning re-launches the real CLI once per rank


def test_ddp_on_two_cpu_processes_writes_one_bundle(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    make_tabular(200, seed=8).drop(columns=["label"]).to_csv(data, index=False)
    result = run_cli("train", str(data), "--name", "ddp", "--id-col", "row_id",
                     "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
                     "--epochs", "2", "--patience", "0", "--batch-size", "32", "--no-progress",
                     "--workspace", str(tmp_path), timeout=240,
                     env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.count("trained ddp:") == 1  # only rank 0 reports

    home = tmp_path / "models" / "ddp"
    assert sorted(p.name for p in home.iterdir()) == ["v1"]  # one version, no staging left over
    meta = json.loads((home / "v1" / "bundle.json").read_text())
    assert meta["training"]["epochs_run"] == 2
    assert meta["settings"]["training"]["strategy"] == "ddp"
    history = pd.read_csv(home / "v1" / "history.csv")
    assert len(history) == 2 and history["val_loss"].notna().all()

    out = tmp_path / "scored.csv"
    scored = run_main("score", "ddp", str(data), "-o", str(out), "--show", "0",
                      "--workspace", str(tmp_path))
    assert scored.returncode == 0, scored.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 200 and frame["anomaly_score"].notna().all()
