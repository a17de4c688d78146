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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

import torch
from torch import nn

from anomaly.errors import ConfigError
from anomaly.inorder import in_order

T = TypeVar("T")
R = TypeVar("R")
MAX_WORKERS = 4  # chunks scored at once, at most: reading and writing need cores too

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


def scoring_workers() -> int:
    """How many chunks are scored at once: `ANOMALY_SCORE_THREADS` if set; 1 where the user set
    `OMP_NUM_THREADS` (their thread count wins; the Dask engine's workers set it to 1); else
    one per core this process may use, at most `MAX_WORKERS`."""
    if "ANOMALY_SCORE_THREADS" in os.environ:
        value = os.environ["ANOMALY_SCORE_THREADS"]
        if not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"ANOMALY_SCORE_THREADS={value!r}: give a number of threads of "
                              "at least 1 (1 scores in one thread), or unset it")
        return int(value)
    if "OMP_NUM_THREADS" in os.environ:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cores or 1))


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """`map(function, items)` on `workers` threads (new ones, which take this thread's torch
    thread count), results in order; at most `workers` + 1 items in flight. An item's error is
    raised when its turn comes, after the results before it; the rest are then cancelled
    (`anomaly.inorder`).

    Example:
        >>> list(ordered_map(lambda x: x * x, range(5), workers=2))
        [0, 1, 4, 9, 16]
    """
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="anomaly-score") as pool:
        yield from in_order(lambda item: pool.submit(function, item), items, workers + 1)
