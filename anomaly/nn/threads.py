"""How many CPU threads a small network's work gets: one, unless the user says otherwise.

Each op of a small network is too short to split across threads, and when other processes share
the cores, OpenMP and BLAS threads waiting for a descheduled sibling made training and scoring
10-100× slower (measured on a busy 2-core machine: scoring 1M rows took 15 CPU-s with two torch
threads, 0.7 with one; numpy's small latent-distance products 12× more CPU with two OpenBLAS
threads). Scoring also reads the next chunk on another core meanwhile. `OMP_NUM_THREADS` set by
the user wins.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import torch
from torch import nn

# Below this many multiply-adds per call (rows × parameters × passes), one thread is faster:
# 64M per training step of forward + backward (~3 passes), measured on training.
SMALL_WORK = 192_000_000


def is_small(network: nn.Module, rows: int, passes: int = 1) -> bool:
    """True when `rows` rows through `network` (`passes`: 1 forward only, 3 with backward) is
    work one CPU thread does best, and the user did not set OMP_NUM_THREADS.

    Example:
        >>> is_small(nn.Linear(4, 4), 256, passes=3) or "OMP_NUM_THREADS" in os.environ
        True
    """
    work = rows * sum(p.numel() for p in network.parameters()) * passes
    return work < SMALL_WORK and "OMP_NUM_THREADS" not in os.environ


@cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_thread(when: bool) -> Iterator[None]:
    """One intra-op torch thread and one BLAS thread inside the block when `when`; the old
    settings after."""
    if not when:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _blas().limit(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
