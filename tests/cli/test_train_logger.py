"""`anomaly train --logger`: a Lightning logger receives the run (csv here: no extra needed);
history.csv stays the bundle's record; a missing optional extra is a clear exit 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import run_main


def test_csv_logger_records_the_epochs_of_history_csv(tabular_files: dict[str, Path],
                                                      tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    args = ["train", str(tabular_files["train"]), "--name", "toy", "--id-col", "row_id",
            "--epochs", "4", "--patience", "0", "--batch-size", "64", "--no-progress",
            "--logger", "csv", "--workspace", str(ws)]
    result = run_main(*args)
    assert result.returncode == 0, result.stderr
    run = ws / "training-logs" / "toy" / "version_0"
    logged = pd.read_csv(run / "metrics.csv")
    history = pd.read_csv(ws / "models" / "toy" / "v1" / "history.csv")
    for column in ("train_loss", "val_loss", "lr", "grad_norm"):
        values = logged.dropna(subset=[column]).sort_values("epoch")[column]
        assert values.to_numpy() == pytest.approx(history[column].to_numpy(), rel=1e-5), column
    settings = yaml.safe_load((run / "hparams.yaml").read_text())
    trained = json.loads((ws / "models" / "toy" / "v1" / "bundle.json").read_text())["training"]
    # the batch the run used: small tables train with smaller batches (TabularKind)
    assert settings["max_epochs"] == 4 and settings["batch_size"] == trained["batch_size"] <= 64

    other = tmp_path / "logs"  # a second run: its own version, in a folder of one's choice
    assert run_main(*args, "--logger-dir", str(other)).returncode == 0
    assert (other / "version_0" / "metrics.csv").exists()
    assert run_main(*args).returncode == 0
    assert (ws / "training-logs" / "toy" / "version_1" / "metrics.csv").exists()


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_missing_extra_is_a_clear_exit_2(name: str, tabular_files: dict[str, Path],
                                         tmp_path: Path) -> None:
    modules = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}[name]
    if any(importlib.util.find_spec(m) for m in modules):
        pytest.skip(f"{name} is installed here")
    result = run_main("train", str(tabular_files["train"]), "--logger", name,
                      "--workspace", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"pip install 'anomaly[{name}]'" in result.stderr
    assert not (tmp_path / "models").exists()  # refused before training


def test_unknown_logger_exits_2(tabular_files: dict[str, Path], tmp_path: Path) -> None:
    result = run_main("train", str(tabular_files["train"]), "--logger", "wandb",
                      "--workspace", str(tmp_path))
    assert result.returncode == 2 and "logger 'wandb' is not one of" in result.stderr
