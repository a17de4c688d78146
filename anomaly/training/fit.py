"""`train_autoencoder`: one Lightning run from tensors to the best weights and learning curves."""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.callbacks import Callback, EarlyStopping, TQDMProgressBar
from torch import nn

from anomaly.config import TrainingConfig
from anomaly.nn.threads import is_small, one_thread
from anomaly.training.data import batch_loader
from anomaly.training.loggers import experiment_logger
from anomaly.training.module import AutoencoderModule

VAL_BATCH = 8192
# Mini-batches per Lightning step (each gets its own optimizer step): amortises Lightning's
# per-step hooks, which for small networks cost about as much as a step itself.
BATCHES_PER_ITEM = 64
# Lightning's advice lines (workers, logging intervals, tips) are noise in a CLI run.
_QUIET = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric")


@dataclass
class TrainResult:
    """What one training run produced."""

    network: nn.Module
    history: pd.DataFrame
    best_epoch: int
    epochs_run: int
    seconds: float
    is_global_zero: bool = True
    notes: list[str] = field(default_factory=list)


class KeepBestWeights(Callback):
    """Keeps an in-memory copy of the weights with the lowest validation loss.

    Lightning's ModelCheckpoint writes pickled checkpoints to disk; an in-memory copy is all
    early stopping needs, and nothing is ever unpickled.
    """

    def __init__(self) -> None:
        self.best_loss = math.inf
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loss = float(trainer.callback_metrics.get("val_loss", math.inf))
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


def _quiet_lightning() -> None:
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*(does not have many workers|num_workers"
                            r"|LeafSpec|isinstance\(treespec|sync_dist|Your `IterableDataset`"
                            r"|GPU available but not used|TPU available|`IterableDataset` has"
                            r"|to set `sync_dist|smaller than the logging interval).*")


def _cpu_threads(trainer: pl.Trainer, network: nn.Module, batch_size: int
                 ) -> AbstractContextManager[None]:
    """One intra-op thread while a small network trains on CPU (`anomaly.nn.threads`)."""
    return one_thread(isinstance(trainer.accelerator, CPUAccelerator)
                      and is_small(network, batch_size, passes=3))


def _devices(value: str) -> int | str | list[int]:
    text = str(value).strip()
    if text == "auto":
        return "auto"
    if "," in text:
        return [int(v) for v in text.split(",") if v]
    return int(text)


def train_autoencoder(network: nn.Module, train_x: torch.Tensor, val_x: torch.Tensor,
                      cfg: TrainingConfig) -> TrainResult:
    """Train `network` on `train_x`, early-stopping on `val_x`; return the best weights.

    Example:
        >>> from anomaly.nn import DenseAutoencoder
        >>> x = torch.randn(64, 4)
        >>> cfg = TrainingConfig(max_epochs=2, progress_bar=False)
        >>> train_autoencoder(DenseAutoencoder(4, (8, 2)), x[:48], x[48:], cfg).epochs_run
        2
    """
    _quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = AutoencoderModule(network, cfg)
    best = KeepBestWeights()
    callbacks: list[Callback] = [best]
    if cfg.patience > 0:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.patience, min_delta=0.0,
                                       check_finite=True))
    if cfg.progress_bar:
        items = math.ceil(len(train_x) / (cfg.batch_size * BATCHES_PER_ITEM))
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, items // 4)))
    trainer = pl.Trainer(
        max_epochs=cfg.max_epochs,
        min_epochs=min(cfg.min_epochs, cfg.max_epochs),
        accelerator=cfg.accelerator,
        devices=_devices(cfg.devices),
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        callbacks=callbacks,
        logger=experiment_logger(cfg),
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=cfg.progress_bar,
        num_sanity_val_steps=0,
        deterministic=False,
    )
    started = time.perf_counter()
    train_batches = batch_loader(train_x, cfg.batch_size, True, cfg.seed, BATCHES_PER_ITEM)
    with _cpu_threads(trainer, network, cfg.batch_size):
        trainer.fit(module, train_dataloaders=train_batches,
                    val_dataloaders=batch_loader(val_x, VAL_BATCH, False))
    seconds = time.perf_counter() - started
    notes: list[str] = []
    if best.state is not None:
        module.load_state_dict(best.state)
    history = pd.DataFrame(module.history, columns=["epoch", "train_loss", "val_loss", "lr",
                                                    "grad_norm"])
    history["epoch"] = history["epoch"].astype(int) + 1  # epochs counted from 1 for people
    if not history["train_loss"].map(math.isfinite).all():
        notes.append("training loss became NaN/inf — lower --lr or keep gradient clipping on")
    network = module.network.cpu().eval()
    return TrainResult(network=network, history=history, best_epoch=best.best_epoch + 1,
                       epochs_run=len(history), seconds=seconds,
                       is_global_zero=trainer.is_global_zero and int(os.environ.get(
                           "LOCAL_RANK", "0")) == 0, notes=notes)
