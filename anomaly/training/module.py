"""The LightningModule that trains any plain autoencoder `nn.Module` by backpropagation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import Precision
from torch import nn

from anomaly.config import TrainingConfig
from anomaly.training.data import split_sizes

# Optimizers with a fused (one kernel for all parameters) implementation on CPU and CUDA.
_FUSED = ("adam", "adamw", "sgd", "adagrad")


def _fast_kwargs(params: list[nn.Parameter], name: str) -> dict[str, Any]:
    """`fused=True` where torch has it for these tensors, else `foreach=True`.

    torch's default on CPU is a Python loop with several small kernels per parameter tensor; for
    the small networks used here that loop costs as much as the forward pass.
    """
    devices = {p.device.type for p in params}
    floating = all(p.dtype in (torch.float32, torch.float64) for p in params)
    if name in _FUSED and floating and devices <= {"cpu", "cuda"}:
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(params: Any, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """The optimizer named by `cfg.optimizer` with its learning rate and weight decay."""
    params = [p for p in params if p.requires_grad]
    wd = cfg.weight_decay
    fast = _fast_kwargs(params, cfg.optimizer)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=wd, **fast)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=wd, **fast)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd,
                               nesterov=cfg.momentum > 0, **fast)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd,
                                   **fast)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=wd, **fast)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


@dataclass
class _Sums:
    """Running per-epoch sums, kept as tensors on the training device.

    A plain object, not module attributes: `nn.Module.__setattr__` costs microseconds per call,
    and converting to float every step would force a device sync on GPUs.
    """

    loss: torch.Tensor
    grad: torch.Tensor
    rows: int = 0
    steps: int = 0

    @classmethod
    def zero(cls, device: torch.device) -> _Sums:
        return cls(loss=torch.zeros((), device=device), grad=torch.zeros((), device=device))


class AutoencoderModule(pl.LightningModule):
    """Trains `network` to reconstruct its input (mean squared error, or the network's own
    `loss(x, noise)` where it has one).

    Adds, as configured: denoising noise on the input (augmentation), an L1 penalty on weights,
    gradient-norm clipping, and a learning-rate schedule. Per epoch it records train and
    validation loss, learning rate and mean gradient norm in `history`.

    The optimisation step is written out (Lightning's manual optimisation): Lightning's automatic
    path wraps every step in a closure and several hook layers, which for small networks costs
    more than the forward and backward pass themselves. Each Lightning step receives a chunk of
    several mini-batches and runs one optimizer step per mini-batch. Under DDP or a precision
    plugin, backward goes through `manual_backward`, so gradient synchronisation works as usual.
    """

    def __init__(self, network: nn.Module, training: TrainingConfig) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.network = network
        self.cfg = training
        self.history: list[dict[str, float]] = []
        self._train = _Sums.zero(torch.device("cpu"))
        self._val = _Sums.zero(torch.device("cpu"))
        self._direct_backward = False
        # Parameter objects keep their identity when Lightning moves the module to a device.
        self._params = [p for p in network.parameters() if p.requires_grad]
        self._l1_weights = [p for n, p in network.named_parameters()
                            if n.endswith("weight") and p.requires_grad]
        self._own_loss = getattr(network, "loss", None)  # networks that say how they learn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)  # type: ignore[no-any-return]

    def _loss(self, x: torch.Tensor, noisy: bool) -> torch.Tensor:
        noise = self.cfg.noise if noisy else 0.0
        if self._own_loss is not None:  # e.g. cross-entropy for categories (MixedAutoencoder)
            return self._own_loss(x, noise)  # type: ignore[no-any-return]
        source = x + noise * torch.randn_like(x) if noise else x
        return nn.functional.mse_loss(self.network(source), x)

    # ------------------------------------------------------------------ train
    def on_train_epoch_start(self) -> None:
        self._train = _Sums.zero(self.device)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """One optimizer step per mini-batch of the chunk `batch` (see `training.data`)."""
        optimizer = self.optimizers(use_pl_optimizer=False)
        assert isinstance(optimizer, torch.optim.Optimizer)
        loss = batch.new_zeros(())
        for x in batch.split(split_sizes(len(batch), self.cfg.batch_size)):
            loss = self._step(x, optimizer)
        return loss

    def _step(self, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        sums = self._train
        loss = self._loss(x, noisy=True)
        sums.loss.add_(loss.detach(), alpha=len(x))
        sums.rows += len(x)
        if self.cfg.l1:
            loss = loss + self.cfg.l1 * sum(p.abs().sum() for p in self._l1_weights)
        for p in self._params:  # = optimizer.zero_grad(set_to_none=True), without its wrappers
            p.grad = None
        if self._direct_backward:
            loss.backward()
        else:
            self.manual_backward(loss)  # DDP gradient sync, precision plugins
        sums.grad.add_(self._clip_and_measure())
        sums.steps += 1
        optimizer.step()
        return loss.detach()

    def _clip_and_measure(self) -> torch.Tensor:
        """Total gradient 2-norm (before clipping); clips to `gradient_clip` when it is > 0.

        The same arithmetic as `clip_grad_norm_` without its wrapper layers (which cost more
        than the arithmetic for small networks). The norm stays a tensor, summed on the device
        and read once per epoch: the curve shows vanishing or exploding gradients.
        """
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads:
            return torch.zeros((), device=self.device)
        norm: torch.Tensor = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        if self.cfg.gradient_clip > 0:
            coef = (self.cfg.gradient_clip / (norm + 1e-6)).clamp_(max=1.0)
            if norm.device.type != "cpu":
                torch._foreach_mul_(grads, coef)  # no host sync on accelerators
            elif coef < 1.0:  # on CPU the check is free and skips the multiply
                torch._foreach_mul_(grads, float(coef))
        return norm

    def on_fit_start(self) -> None:
        # Lightning's manual_backward adds hooks for DDP and mixed precision; a single device
        # in full precision needs neither.
        trainer = self.trainer
        self._direct_backward = (trainer.world_size == 1
                                 and type(trainer.precision_plugin) is Precision)

    def on_train_epoch_end(self) -> None:
        sums = self._train
        train_loss = self._reduce(sums.loss, sums.rows)
        val_loss = float(self.trainer.callback_metrics.get("val_loss", float("nan")))
        optimizer = self.optimizers(use_pl_optimizer=False)
        assert isinstance(optimizer, torch.optim.Optimizer)
        row = {
            "epoch": float(self.current_epoch),
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": float(optimizer.param_groups[0]["lr"]),
            "grad_norm": float(sums.grad.cpu()) / max(sums.steps, 1),
        }
        self.history.append(row)
        self.log("train_loss", train_loss, prog_bar=True)
        self.log_dict({"lr": row["lr"], "grad_norm": row["grad_norm"]})  # for a --logger
        self._step_scheduler(val_loss)

    def _step_scheduler(self, val_loss: float) -> None:
        """Epoch-interval schedules, stepped after the epoch's row recorded the lr it used."""
        found = self.lr_schedulers()
        schedulers = found if isinstance(found, list) else [] if found is None else [found]
        for scheduler in schedulers:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
            else:
                scheduler.step()

    # ------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        self._val = _Sums.zero(self.device)

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        loss = self._loss(batch, noisy=False)
        self._val.loss.add_(loss.detach(), alpha=len(batch))
        self._val.rows += len(batch)

    def on_validation_epoch_end(self) -> None:
        val_loss = self._reduce(self._val.loss, self._val.rows)
        self.log("val_loss", val_loss, prog_bar=True)

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
        else:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
