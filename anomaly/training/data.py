"""In-memory mini-batches for Lightning without the per-sample DataLoader path.

A `DataLoader(TensorDataset)` collates every batch from single rows: for small networks that costs
more than the forward and backward pass. `TensorBatches` slices whole batches out of one tensor
(shuffled once per epoch, seeded) and shards them across DDP ranks so every rank runs the same
number of steps.

Lightning's per-step machinery (hooks, loop bookkeeping) also costs about as much as one step of a
small network, so training hands Lightning *chunks* of several consecutive mini-batches
(`batches_per_item`) and the module runs one optimizer step per mini-batch inside each chunk
(`split_sizes` gives the same batch boundaries either way), like Keras' `steps_per_execution`.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset

MIN_LAST = 2  # a 1-row batch breaks batch norm; fold it into the previous batch


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def split_sizes(n: int, batch_size: int, min_last: int = MIN_LAST) -> list[int]:
    """Mini-batch sizes for `n` rows: full batches, the tail folded in when under `min_last`.

    Example:
        >>> split_sizes(10, 4), split_sizes(9, 4)
        ([4, 4, 2], [4, 5])
    """
    sizes = [batch_size] * (n // batch_size)
    tail = n - batch_size * len(sizes)
    if tail and sizes and tail < min_last:
        sizes[-1] += tail
    elif tail:
        sizes.append(tail)
    return sizes


class TensorBatches(IterableDataset[torch.Tensor]):
    """Yields items (views or gathers of `data`) of `batch_size × batches_per_item` rows.

    Each item holds `batches_per_item` consecutive mini-batches (fewer in the last item); with
    `batches_per_item=1` an item is one mini-batch.

    Example:
        >>> batches = TensorBatches(torch.arange(10.0).reshape(5, 2), batch_size=2, shuffle=False)
        >>> [b.shape[0] for b in batches]
        [2, 3]
        >>> chunks = TensorBatches(torch.zeros(9, 1), batch_size=2, shuffle=False,
        ...                        batches_per_item=3)
        >>> [c.shape[0] for c in chunks]
        [6, 3]
    """

    def __init__(self, data: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 min_last: int = MIN_LAST, batches_per_item: int = 1) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.min_last = min_last
        self.batches_per_item = max(1, batches_per_item)
        self.epoch = 0

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        sizes = split_sizes(n, self.batch_size, self.min_last)
        bounds, start = [], 0
        for i in range(0, len(sizes), self.batches_per_item):
            stop = start + sum(sizes[i:i + self.batches_per_item])
            bounds.append((start, stop))
            start = stop
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


def batch_loader(data: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 batches_per_item: int = 1) -> DataLoader[torch.Tensor]:
    """A DataLoader over whole batches (batch_size=None: the dataset already batches)."""
    return DataLoader(TensorBatches(data, batch_size, shuffle, seed,
                                    batches_per_item=batches_per_item),
                      batch_size=None, num_workers=0)
