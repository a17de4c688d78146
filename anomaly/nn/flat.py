"""Dense autoencoder on flattened windows (batch, window, sensors) → window × sensors inputs."""

from __future__ import annotations

import torch
from torch import nn

from anomaly.nn.dense import DenseAutoencoder


class Unflatten(nn.Module):
    """Dense decoder followed by a reshape back to (batch, window, channels)."""

    def __init__(self, decoder: nn.Module, window: int, n_channels: int) -> None:
        super().__init__()
        self.inner = decoder
        self.window, self.n_channels = window, n_channels

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(code)
        return out.reshape(len(code), self.window, self.n_channels)


class WindowDenseAutoencoder(nn.Module):
    """`DenseAutoencoder` over the flattened window.

    Example:
        >>> ae = WindowDenseAutoencoder(3, 10, hidden=(16, 4))
        >>> ae(torch.zeros(2, 10, 3)).shape
        torch.Size([2, 10, 3])
    """

    def __init__(self, n_channels: int, window: int, hidden: tuple[int, ...] = (64, 16),
                 activation: str = "gelu", dropout: float = 0.0, norm: str = "layer") -> None:
        super().__init__()
        self.n_channels, self.window = n_channels, window
        dense = DenseAutoencoder(n_channels * window, hidden, activation, dropout, norm)
        self.encoder = dense.encoder
        self.decoder = Unflatten(dense.decoder, window, n_channels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each window."""
        code: torch.Tensor = self.encoder(x.reshape(len(x), -1))
        return code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))  # type: ignore[no-any-return]
