"""1-D convolutional autoencoder for sensor windows (batch, window, sensors)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from anomaly.nn.dense import ACTIVATIONS


class ConvDecoder(nn.Module):
    """Upsampling convolutions from the code back to (batch, window, channels)."""

    def __init__(self, widths: list[int], n_channels: int, window: int, kernel: int,
                 activation: str, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.ConvTranspose1d(a, b, kernel, stride=2, padding=kernel // 2,
                                          output_padding=1), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.ConvTranspose1d(widths[-1], n_channels, kernel, stride=2,
                                         padding=kernel // 2, output_padding=1))
        self.net = nn.Sequential(*layers)
        self.window = window

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(code)[:, :, :self.window]
        return out.transpose(1, 2)


class ConvAutoencoder(nn.Module):
    """Strided Conv1d encoder, transposed-conv decoder (as SKAB's Conv-AE, in PyTorch).

    Args:
        n_channels: inputs per time step (scaled sensors, missing flags).
        window: time steps per window.
        channels: encoder widths; each layer halves the time axis. The decoder mirrors them.
        kernel: odd convolution kernel size.
        activation: one of relu, gelu, tanh, leaky_relu, elu, silu.
        dropout: dropout after hidden layers.

    Example:
        >>> ae = ConvAutoencoder(3, 30, channels=(8, 4))
        >>> ae(torch.zeros(2, 30, 3)).shape
        torch.Size([2, 30, 3])
    """

    def __init__(self, n_channels: int, window: int, channels: tuple[int, ...] = (32, 16),
                 kernel: int = 7, activation: str = "relu", dropout: float = 0.2) -> None:
        super().__init__()
        if not channels:
            raise ValueError("channels needs at least one width")
        self.n_channels, self.window = n_channels, window
        self.multiple = 2 ** len(channels)
        layers: list[nn.Module] = []
        widths = [n_channels, *channels]
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers += [nn.Conv1d(a, b, kernel, stride=2, padding=kernel // 2),
                       ACTIVATIONS[activation]()]
            if dropout > 0 and i < len(channels) - 1:
                layers.append(nn.Dropout(dropout))
        self.encoder = nn.Sequential(*layers)
        self.decoder = ConvDecoder(list(channels)[::-1], n_channels, window, kernel,
                                   activation, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each window: (batch, last width, ⌈window / 2^layers⌉)."""
        pad = (-self.window) % self.multiple
        seq = x.transpose(1, 2)
        if pad:  # repeat the last step so every layer halves an even length
            seq = torch.cat([seq, seq[:, :, -1:].expand(-1, -1, pad)], dim=2)
        code: torch.Tensor = self.encoder(seq)
        return code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))  # type: ignore[no-any-return]
