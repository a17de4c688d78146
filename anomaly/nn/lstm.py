"""LSTM encoder–decoder autoencoder for sensor windows (batch, window, sensors)."""

from __future__ import annotations

import torch
from torch import nn


class LSTMDecoder(nn.Module):
    """Repeats the code along the window and unrolls an LSTM back to the sensors."""

    def __init__(self, code: int, hidden: int, n_channels: int, window: int,
                 layers: int) -> None:
        super().__init__()
        self.window = window
        self.lstm = nn.LSTM(code, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, n_channels)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(code.unsqueeze(1).expand(-1, self.window, -1))
        out: torch.Tensor = self.out(seq)
        return out


class LSTMAutoencoder(nn.Module):
    """LSTM encoder → code (last hidden state, projected) → LSTM decoder.

    Args:
        n_channels: inputs per time step.
        window: time steps per window.
        hidden: LSTM hidden size (encoder and decoder).
        code: size of the code vector.
        layers: stacked LSTM layers.

    Example:
        >>> ae = LSTMAutoencoder(3, 20, hidden=8, code=4)
        >>> ae(torch.zeros(2, 20, 3)).shape
        torch.Size([2, 20, 3])
    """

    def __init__(self, n_channels: int, window: int, hidden: int = 32, code: int = 16,
                 layers: int = 1) -> None:
        super().__init__()
        self.n_channels, self.window = n_channels, window
        self.lstm = nn.LSTM(n_channels, hidden, num_layers=layers, batch_first=True)
        self.to_code = nn.Linear(hidden, code)
        self.decoder = LSTMDecoder(code, hidden, n_channels, window, layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each window (batch, code)."""
        _, (h, _) = self.lstm(x)
        code: torch.Tensor = self.to_code(h[-1])
        return code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))  # type: ignore[no-any-return]
