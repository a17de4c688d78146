"""Experiment loggers for training runs people compare: `anomaly train --logger csv|tensorboard|
mlflow`.

The chosen Lightning logger receives the run's settings and, per epoch, train_loss, val_loss,
lr and grad_norm. The bundle's history.csv stays what the dashboard reads; a logger is only for
comparing runs in the tool of one's choice. TensorBoard and MLflow are optional extras
(``pip install 'anomaly[tensorboard]'`` / ``'anomaly[mlflow]'``): asking for one that is not
installed is a `ConfigError` naming the extra, never an import failure.

Example:
    >>> check_logger("none")
    >>> check_logger("wandb")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ConfigError: ...
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from anomaly.config import TrainingConfig
from anomaly.errors import ConfigError

LOGGERS = ("none", "csv", "tensorboard", "mlflow")
DEFAULT_DIR = "training-logs"
# the modules an optional logger needs, and the extra that installs them
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "mlflow": (("mlflow",), "mlflow"),
}


def check_logger(name: str) -> None:
    """`ConfigError` unless `name` is a logger whose packages are installed."""
    if name not in LOGGERS:
        raise ConfigError(f"logger {name!r} is not one of {', '.join(LOGGERS)}")
    if name in EXTRAS:
        modules, extra = EXTRAS[name]
        if not any(importlib.util.find_spec(m) is not None for m in modules):
            raise ConfigError(f"--logger {name} needs the optional {extra} package: "
                              f"pip install 'anomaly[{extra}]' — or use --logger csv, which "
                              "needs nothing more")


def experiment_logger(cfg: TrainingConfig) -> Any:
    """The Lightning logger `cfg` asks for (False for none), its settings logged."""
    check_logger(cfg.logger)
    if cfg.logger == "none":
        return False
    folder = Path(cfg.logger_dir or DEFAULT_DIR)
    if cfg.logger == "csv":
        from pytorch_lightning.loggers import CSVLogger

        logger: Any = CSVLogger(str(folder), name="")
    elif cfg.logger == "tensorboard":
        from pytorch_lightning.loggers import TensorBoardLogger

        logger = TensorBoardLogger(str(folder), name="", default_hp_metric=False)
    else:
        from pytorch_lightning.loggers import MLFlowLogger

        logger = MLFlowLogger(experiment_name=folder.resolve().name or "anomaly",
                              tracking_uri=folder.resolve().as_uri())
    logger.log_hyperparams({k: v for k, v in dataclasses.asdict(cfg).items()
                            if k not in ("logger", "logger_dir", "progress_bar")})
    return logger
