"""The LightningModule that trains any plain autoencoder `nn.Module` by backpropagation."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from anomaly.config import TrainingConfig


def make_optimizer(params: Any, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """The optimizer named by `cfg.optimizer` with its learning rate and weight decay."""
    wd = cfg.weight_decay
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=wd)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=wd)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd,
                               nesterov=cfg.momentum > 0)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


class AutoencoderModule(pl.LightningModule):
    """Trains `network` to reconstruct its input (mean squared error).

    Adds, as configured: denoising noise on the input (augmentation), an L1 penalty on weights,
    gradient-norm clipping, and a learning-rate schedule. Per epoch it records train and
    validation loss, learning rate and mean gradient norm in `history`.
    """

    def __init__(self, network: nn.Module, training: TrainingConfig) -> None:
        super().__init__()
        self.network = network
        self.cfg = training
        self.history: list[dict[str, float]] = []
        self._train_sum = torch.zeros(())
        self._train_rows = 0
        self._grad_sum = 0.0
        self._grad_steps = 0
        self._val_sum = torch.zeros(())
        self._val_rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)  # type: ignore[no-any-return]

    def _loss(self, x: torch.Tensor, noisy: bool) -> torch.Tensor:
        source = x + self.cfg.noise * torch.randn_like(x) if noisy and self.cfg.noise else x
        return nn.functional.mse_loss(self.network(source), x)

    # ------------------------------------------------------------------ train
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch, noisy=True)
        self._train_sum = self._train_sum.to(loss.device) + loss.detach() * len(batch)
        self._train_rows += len(batch)
        if self.cfg.l1:
            penalty = sum(p.abs().sum() for n, p in self.network.named_parameters()
                          if n.endswith("weight"))
            loss = loss + self.cfg.l1 * penalty
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Clip and measure in one pass: the norm shows vanishing or exploding gradients.
        max_norm = self.cfg.gradient_clip if self.cfg.gradient_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm)
        self._grad_sum += float(norm)
        self._grad_steps += 1

    def on_train_epoch_end(self) -> None:
        train_loss = self._reduce(self._train_sum, self._train_rows)
        row = {
            "epoch": float(self.current_epoch),
            "train_loss": train_loss,
            "val_loss": float(self.trainer.callback_metrics.get("val_loss", float("nan"))),
            "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"]),
            "grad_norm": self._grad_sum / max(self._grad_steps, 1),
        }
        self.history.append(row)
        self.log("train_loss", train_loss, prog_bar=True)
        self._train_sum, self._train_rows = torch.zeros(()), 0
        self._grad_sum, self._grad_steps = 0.0, 0

    # ------------------------------------------------------------- validation
    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        loss = self._loss(batch, noisy=False)
        self._val_sum = self._val_sum.to(loss.device) + loss.detach() * len(batch)
        self._val_rows += len(batch)

    def on_validation_epoch_end(self) -> None:
        val_loss = self._reduce(self._val_sum, self._val_rows)
        self.log("val_loss", val_loss, prog_bar=True)
        self._val_sum, self._val_rows = torch.zeros(()), 0

    def _reduce(self, total: torch.Tensor, rows: int) -> float:
        """Row-weighted mean over all DDP ranks."""
        both = torch.stack([total.detach().float().cpu(), torch.tensor(float(rows))])
        if self.trainer.world_size > 1:
            both = self.trainer.strategy.reduce(both.to(self.device), reduce_op="sum").cpu()
        return float(both[0] / both[1].clamp(min=1))

    # -------------------------------------------------------------- optimizer
    def configure_optimizers(self) -> Any:
        optimizer = make_optimizer(self.parameters(), self.cfg)
        if self.cfg.schedule == "cosine":
            scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=self.cfg.max_epochs, eta_min=self.cfg.lr * 0.01)
        elif self.cfg.schedule == "step":
            scheduler = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=max(1, self.cfg.max_epochs // 3), gamma=0.3)
        elif self.cfg.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=0.3, patience=max(2, self.cfg.patience // 3))
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}
        else:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
