"""Work handed to a pool — threads, forked processes or a Dask cluster — a bounded number of
items ahead, its results taken back in the order the items came."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R", covariant=True)


class Pending(Protocol[R]):
    """What a pool's `submit` returns (`concurrent.futures.Future`, a Dask future)."""

    def result(self) -> R: ...

    def cancel(self) -> bool: ...


def in_order(submit: Callable[[T], Pending[R]], items: Iterable[T], ahead: int) -> Iterator[R]:
    """The results of `submit(item)` for each item, in order. The first `ahead` items are
    submitted now, before a result is asked for (a process pool forks here); then one more
    each time a result is taken. An item's error is raised at its turn, after the results
    before it; what is still pending is cancelled when the caller stops.

    Example:
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> with ThreadPoolExecutor(2) as pool:
        ...     list(in_order(lambda x: pool.submit(pow, x, 2), range(5), ahead=3))
        [0, 1, 4, 9, 16]
    """
    rest = iter(items)
    pending = deque(submit(item) for item in itertools.islice(rest, max(1, ahead)))
    return _results(submit, rest, pending)


def _results(submit: Callable[[T], Pending[R]], rest: Iterator[T],
             pending: deque[Pending[R]]) -> Iterator[R]:
    try:
        while pending:
            result = pending.popleft().result()
            for item in rest:
                pending.append(submit(item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
