"""In-memory mini-batches for Lightning without the per-sample DataLoader path.

A `DataLoader(TensorDataset)` collates every batch from single rows: for small networks that costs
more than the forward and backward pass. `TensorBatches` slices whole batches out of one tensor
(shuffled once per epoch, seeded) and shards them across DDP ranks so every rank runs the same
number of steps.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class TensorBatches(IterableDataset[torch.Tensor]):
    """Yields batches (views or gathers of `data`) of `batch_size` rows.

    Example:
        >>> batches = TensorBatches(torch.arange(10.0).reshape(5, 2), batch_size=2, shuffle=False)
        >>> [b.shape[0] for b in batches]
        [2, 3]
    """

    def __init__(self, data: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 min_last: int = 2) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.min_last = min_last  # a 1-row batch breaks batch norm; fold it into the previous
        self.epoch = 0

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        starts = list(range(0, n, self.batch_size))
        bounds = [(s, min(s + self.batch_size, n)) for s in starts]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < self.min_last:
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds

    def __len__(self) -> int:
        _, world = _rank_world()
        return len(self._bounds(len(self.data) // world))

    def __iter__(self) -> Iterator[torch.Tensor]:
        rank, world = _rank_world()
        n = len(self.data)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator)
            self.epoch += 1
            shard = order[rank * (n // world):(rank + 1) * (n // world)]
            rows = self.data[shard]
        else:
            per_rank = n // world
            rows = self.data[rank * per_rank:(rank + 1) * per_rank] if world > 1 else self.data
        for start, stop in self._bounds(len(rows)):
            yield rows[start:stop]


def batch_loader(data: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0
                 ) -> DataLoader[torch.Tensor]:
    """A DataLoader over whole batches (batch_size=None: the dataset already batches)."""
    return DataLoader(TensorBatches(data, batch_size, shuffle, seed), batch_size=None,
                      num_workers=0)
