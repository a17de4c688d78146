"""Dense autoencoder for mixed rows: numeric inputs next to categorical columns.

Inputs are one float row per record: first the dense inputs (scaled numerics and their missing
flags), then one input per categorical column holding the category's index in its vocabulary
(the last index is the unknown bucket). Categories are embedded on the way in and predicted by a
softmax on the way out, so a wrong category costs its cross-entropy, not the squared error of a
one-hot vector; a numeric value that is missing is masked out of the loss (its imputed value is
no target) while its missing flag is still reconstructed, so missingness stays visible.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from anomaly.nn.dense import _stack


def embedding_width(classes: int) -> int:
    """Embedding width of a categorical column with `classes` classes (unknown included).

    Example:
        >>> [embedding_width(c) for c in (3, 11, 51)]
        [2, 6, 16]
    """
    return max(2, min(16, (classes + 1) // 2))


class MixedAutoencoder(nn.Module):
    """Autoencoder over [dense inputs | category indices].

    Args:
        n_dense: number of dense inputs (they come first).
        cardinalities: classes of each categorical column (vocabulary + unknown bucket).
        missing_of: per dense input, the position of the flag input that says its value is
            missing (masked out of the loss), or -1.
        embed: embedding width of each categorical column (default `embedding_width`).
        hidden, activation, dropout, norm, residual: as `DenseAutoencoder`.
        category_dropout: share of category inputs replaced by the unknown bucket in training.

    Example:
        >>> ae = MixedAutoencoder(2, [3, 4], hidden=(8, 2))
        >>> x = torch.tensor([[0.5, -1.0, 2.0, 0.0]])
        >>> ae(x).shape, ae.residual(x).shape
        (torch.Size([1, 4]), torch.Size([1, 4]))
    """

    flag_at: torch.Tensor  # buffers (rebuilt from the arguments, not saved)
    has_flag: torch.Tensor
    unknown: torch.Tensor

    def __init__(self, n_dense: int, cardinalities: tuple[int, ...],
                 missing_of: tuple[int, ...] = (), embed: tuple[int, ...] = (),
                 hidden: tuple[int, ...] = (64, 32, 16), activation: str = "gelu",
                 dropout: float = 0.0, norm: str = "none", residual: bool = False,
                 category_dropout: float = 0.0) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden needs at least one width (the code size)")
        self.n_dense = n_dense
        self.cardinalities = [int(c) for c in cardinalities]
        self.category_dropout = category_dropout
        widths = list(embed) or [embedding_width(c) for c in self.cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c, w) for c, w in
                                        zip(self.cardinalities, widths, strict=True))
        n_in = n_dense + sum(widths)
        n_out = n_dense + sum(self.cardinalities)
        self.encoder = _stack([n_in, *hidden], activation, norm, dropout, residual)
        self.decoder = _stack([n_out, *hidden][::-1], activation, norm, dropout, residual)
        flags = list(missing_of) or [-1] * n_dense
        # where each dense input's missing flag sits (itself when it has none: never masked)
        self.register_buffer("flag_at", torch.tensor(
            [f if f >= 0 else i for i, f in enumerate(flags)], dtype=torch.long),
            persistent=False)
        self.register_buffer("has_flag", torch.tensor([f >= 0 for f in flags]),
                             persistent=False)
        self.register_buffer("unknown", torch.tensor([c - 1 for c in self.cardinalities],
                                                     dtype=torch.float32), persistent=False)

    # --------------------------------------------------------------- pieces
    def _indices(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.n_dense:].round().long()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each row (categories embedded first)."""
        idx = self._indices(x)
        parts = [x[:, :self.n_dense], *(emb(idx[:, i]) for i, emb in enumerate(self.embeddings))]
        code: torch.Tensor = self.encoder(torch.cat(parts, dim=1))
        return code

    def _decode(self, code: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out: torch.Tensor = self.decoder(code)
        return out[:, :self.n_dense], list(out[:, self.n_dense:].split(self.cardinalities, 1))

    def _present(self, x: torch.Tensor) -> torch.Tensor:
        """1 where a dense input is a target, 0 where its value is missing (masked)."""
        flagged = x[:, self.flag_at] > 0.5
        return (~(flagged & self.has_flag)).to(x.dtype)

    def _errors(self, x: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed masked residuals of the dense inputs; cross-entropy of each true category."""
        dense, logits = self._decode(code)
        idx = self._indices(x)
        residual = (dense - x[:, :self.n_dense]) * self._present(x)
        if not logits:
            return residual, x.new_zeros((len(x), 0))
        ce = torch.stack([functional.cross_entropy(z, idx[:, i], reduction="none")
                          for i, z in enumerate(logits)], dim=1)
        return residual, ce

    # ------------------------------------------------------------------ API
    def residual(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """Per input: the signed residual of dense inputs (0 where missing) and, for each
        categorical column, √(cross-entropy of the true category) — squared, every input's
        error is then in the units of the training loss."""
        residual, ce = self._errors(x, self.encode(x) if code is None else code)
        return torch.cat([residual, ce.clamp_min(0.0).sqrt()], dim=1)

    def loss(self, x: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        """Training loss: masked squared error and cross-entropy, averaged over inputs and rows
        (`noise`: denoising noise on the dense inputs only)."""
        source = x
        if noise:
            source = x.clone()
            source[:, :self.n_dense] += noise * torch.randn_like(source[:, :self.n_dense])
        if self.category_dropout and self.training:
            # hide some categories behind the unknown bucket: the network learns to predict a
            # column from the others instead of copying it through (an unusual combination
            # then costs cross-entropy), and the unknown bucket gets a trained embedding
            cats = source[:, self.n_dense:]
            hide = torch.rand_like(cats) < self.category_dropout
            source = torch.cat([source[:, :self.n_dense],
                                torch.where(hide, self.unknown.to(x.dtype), cats)], dim=1)
        residual, ce = self._errors(x, self.encode(source))
        per_row = residual.square().sum(dim=1) + ce.sum(dim=1)
        return per_row.mean() / x.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction in input units: dense values, and each column's likeliest index."""
        dense, logits = self._decode(self.encode(x))
        picks = [z.argmax(dim=1, keepdim=True).to(x.dtype) for z in logits]
        return torch.cat([dense, *picks], dim=1)
