"""SKAB's published Conv-AE, reproduced in PyTorch, and the model-free level chart inside it.

Recipe (waico/SKAB `core/Conv_AE.py`, `notebooks/Conv_AE.ipynb`): per file a `StandardScaler`
fitted on the first 400 rows; windows of 60 rows; Conv1D(32, k7, s2, ReLU) → Dropout .2 →
Conv1D(16, k7, s2, ReLU) → ConvT(16) → Dropout .2 → ConvT(32) → ConvT(1 channel); the one
output channel is broadcast against the 8 sensors in the MSE loss; Adam 1e-3, batch 32, at most
100 epochs, early stopping (patience 5) on the last 10 % of the training windows. A window's
residual is Σ over sensors of the mean over time of |x − x̂|; the UCL is 4/3 × the 0.999 quantile
of the training windows' residuals. The *level chart* is the same with x̂ = 0 (no network): its
residual is the 60-row mean of Σ|z|.

Row flags: SKAB flags row r of the test part when every window in the 59 positions before it
is over the UCL, and its loop only visits rows 59 … len − 119 (`published_flags`). Over all rows
(`all_rows_score`) the same rule is applied to every row that has such windows; the row score
(min residual of those windows / UCL, > 1 = flagged) ranks rows for ROC/PR.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

STEPS = 60
UCL_FACTOR = 4.0 / 3.0
UCL_QUANTILE = 0.999


class SkabConvAE(nn.Module):
    """SKAB's Conv-AE with one output channel (broadcast over the sensors in the loss)."""

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_channels, 32, 7, stride=2, padding=3), nn.ReLU(), nn.Dropout(0.2),
            nn.Conv1d(32, 16, 7, stride=2, padding=3), nn.ReLU(),
            nn.ConvTranspose1d(16, 16, 7, stride=2, padding=3, output_padding=1), nn.ReLU(),
            nn.Dropout(0.2),
            nn.ConvTranspose1d(16, 32, 7, stride=2, padding=3, output_padding=1), nn.ReLU(),
            nn.ConvTranspose1d(32, 1, 7, padding=3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, time, sensors)
        out: torch.Tensor = self.net(x.transpose(1, 2)).transpose(1, 2)
        return out  # (batch, time, 1)


def windows(z: np.ndarray) -> np.ndarray:
    """All STEPS-row windows of `z` (n − 59 × 60 × sensors)."""
    return np.ascontiguousarray(sliding_window_view(z, STEPS, axis=0).transpose(0, 2, 1))


def train(x: np.ndarray, seed: int, max_epochs: int = 100, patience: int = 5) -> SkabConvAE:
    """Fit as Keras `fit(validation_split=0.1, batch_size=32, shuffle=True)` with early stopping."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_val = max(1, round(0.1 * len(x)))
    tr, va = torch.from_numpy(x[:-n_val]), torch.from_numpy(x[-n_val:])
    model = SkabConvAE(x.shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    best, waited = np.inf, 0
    for _ in range(max_epochs):
        model.train()
        for batch in np.array_split(rng.permutation(len(tr)), max(1, -(-len(tr) // 32))):
            xb = tr[batch]
            loss = ((model(xb) - xb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = float(((model(va) - va) ** 2).mean())
        if val < best:
            best, waited = val, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return model


def residuals(x: np.ndarray, model: SkabConvAE | None) -> np.ndarray:
    """Σ over sensors of the mean over time of |x − x̂| per window (x̂ = 0 without a model)."""
    if model is None:
        return np.abs(x).mean(axis=1).sum(axis=1)
    model.eval()
    with torch.no_grad():
        recon = model(torch.from_numpy(x)).numpy()
    return np.abs(x - recon).mean(axis=1).sum(axis=1)


def scaled(values: np.ndarray, train_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test parts standardised on the train part (sklearn's `StandardScaler`)."""
    train_part = values[:train_rows]
    mean, std = train_part.mean(axis=0), train_part.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    z = ((values - mean) / std).astype(np.float32)
    return z[:train_rows], z[train_rows:]


def window_scores(values: np.ndarray, train_rows: int, seed: int, network: bool
                  ) -> np.ndarray:
    """Test-window residuals divided by the UCL (> 1 = over the control limit)."""
    z_train, z_test = scaled(values, train_rows)
    x_train = windows(z_train)
    model = train(x_train, seed) if network else None
    ucl = UCL_FACTOR * float(np.quantile(residuals(x_train, model), UCL_QUANTILE))
    return residuals(windows(z_test), model) / ucl


def published_flags(window_score: np.ndarray, n_rows: int) -> np.ndarray:
    """SKAB's loop: row i in 59 … len(windows) − 60 flagged when windows i−59 … i−1 are over."""
    over = window_score > 1.0
    flags = np.zeros(n_rows, dtype=int)
    for i in range(STEPS - 1, len(over) - STEPS + 1):
        if over[i - STEPS + 1:i].all():
            flags[i] = 1
    return flags


def all_rows_score(window_score: np.ndarray, n_rows: int) -> np.ndarray:
    """Per test row: the smallest of windows r−59 … r−1 (those that exist); 0 for row 0.

    `score > 1` is SKAB's rule applied to every row.
    """
    padded = np.concatenate([np.full(STEPS - 2, np.inf), window_score,
                             np.full(max(0, n_rows - len(window_score)), np.inf)])
    mins = sliding_window_view(padded, STEPS - 1).min(axis=1)  # windows r−59 … r−1
    out = np.zeros(n_rows)
    out[1:] = mins[:n_rows - 1]
    return np.where(np.isfinite(out), out, 0.0)
