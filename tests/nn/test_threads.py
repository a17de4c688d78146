"""Chunks scored on several threads: results in order, errors at their turn, bounded work ahead,
and how many threads by default."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from anomaly.errors import ConfigError
from anomaly.nn import threads
from anomaly.nn.threads import ordered_map, scoring_workers


def test_results_come_in_order_whatever_finishes_first() -> None:
    def slow_first(x: int) -> int:
        time.sleep(0.05 if x % 3 == 0 else 0.0)
        return x * 10

    assert list(ordered_map(slow_first, range(12), workers=3)) == [x * 10 for x in range(12)]


def test_an_error_is_raised_after_the_results_before_it_and_stops_the_rest() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def fail_at_five(x: int) -> int:
        with lock:
            started.append(x)
        if x == 5:
            raise ValueError("row 5 is bad")
        return x

    got: list[int] = []
    with pytest.raises(ValueError, match="row 5 is bad"):
        for value in ordered_map(fail_at_five, range(100), workers=2):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]
    assert max(started) <= 5 + 2  # the items after it were not all taken


def test_items_are_taken_at_most_workers_plus_one_ahead() -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for i in range(50):
            taken.append(i)
            yield i

    results = ordered_map(lambda x: x, items(), workers=2)
    assert next(results) == 0
    assert len(taken) <= 3 + 1
    results.close()  # a consumer that leaves early: nothing keeps running


def test_one_worker_maps_in_this_thread() -> None:
    names = list(ordered_map(lambda _: threading.current_thread().name, range(3), workers=1))
    assert names == [threading.current_thread().name] * 3


def test_workers_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANOMALY_SCORE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _: set(range(16)),
                        raising=False)
    assert scoring_workers() == threads.MAX_WORKERS  # one per core, capped
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's (or Dask's) thread count wins
    assert scoring_workers() == 1
    monkeypatch.setenv("ANOMALY_SCORE_THREADS", "3")
    assert scoring_workers() == 3
    for bad in ("two", "0", "-1", ""):
        monkeypatch.setenv("ANOMALY_SCORE_THREADS", bad)
        with pytest.raises(ConfigError, match=r"ANOMALY_SCORE_THREADS=.*at least 1"):
            scoring_workers()
