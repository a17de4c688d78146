"""Dense (fully connected) autoencoder for tabular rows or flattened windows."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def default_hidden(n_inputs: int) -> tuple[int, ...]:
    """Encoder widths sized from the input width: wide first layer, narrow code.

    Example:
        >>> default_hidden(21)
        (64, 32, 10)
    """
    first = min(256, max(32, 2 ** math.ceil(math.log2(max(2 * n_inputs, 2)))))
    code = min(32, max(2, n_inputs // 2))
    return (first, max(code, first // 2), code)


class Block(nn.Module):
    """Linear → norm → activation → dropout, with an optional residual (when widths match)."""

    def __init__(self, n_in: int, n_out: int, activation: str, norm: str, dropout: float,
                 residual: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm: nn.Module = {"batch": nn.BatchNorm1d(n_out), "layer": nn.LayerNorm(n_out)
                                }.get(norm, nn.Identity())
        self.act = ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual = residual and n_in == n_out
        # He initialisation suits the ReLU family; Xavier suits tanh (keeps activations' variance)
        if activation == "tanh":
            nn.init.xavier_uniform_(self.linear.weight, gain=nn.init.calculate_gain("tanh"))
        else:
            nn.init.kaiming_normal_(self.linear.weight, nonlinearity="relu")
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(self.act(self.norm(self.linear(x))))
        out: torch.Tensor = x + y if self.residual else y
        return out


def _stack(widths: list[int], activation: str, norm: str, dropout: float,
           residual: bool) -> nn.Sequential:
    """A `Block` between each pair of consecutive widths, a plain `nn.Linear` for the last pair.

    Example:
        >>> [type(m).__name__ for m in _stack([8, 6, 4], "relu", "none", 0.0, False)]
        ['Block', 'Linear']
    """
    layers: list[nn.Module] = [Block(a, b, activation, norm, dropout, residual)
                               for a, b in itertools.pairwise(widths[:-1])]
    return nn.Sequential(*layers, nn.Linear(widths[-2], widths[-1]))


class DenseAutoencoder(nn.Module):
    """Mirror-symmetric dense autoencoder.

    Args:
        n_inputs: width of one input row.
        hidden: encoder widths; the last one is the code (latent) size. The decoder mirrors them.
        activation: one of relu, gelu, tanh, leaky_relu, elu, silu.
        dropout: dropout after each hidden layer (not on the code).
        norm: "layer", "batch" or "none" normalisation in hidden layers.
        residual: add skip connections where consecutive widths match (deep networks).

    Example:
        >>> ae = DenseAutoencoder(8, hidden=(16, 4))
        >>> ae(torch.zeros(2, 8)).shape
        torch.Size([2, 8])
    """

    def __init__(self, n_inputs: int, hidden: tuple[int, ...] = (64, 32, 16),
                 activation: str = "gelu", dropout: float = 0.0, norm: str = "none",
                 residual: bool = False) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden needs at least one width (the code size)")
        self.n_inputs = n_inputs
        widths = [n_inputs, *hidden]
        self.encoder = _stack(widths, activation, norm, dropout, residual)
        self.decoder = _stack(widths[::-1], activation, norm, dropout, residual)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code (latent vector) of each row."""
        code: torch.Tensor = self.encoder(x)
        return code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))  # type: ignore[no-any-return]
