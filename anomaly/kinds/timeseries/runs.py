"""Run-relative models: each run of the machine judged against its own warm-up.

A model trained with ``--baseline-rows N`` learns on runs: the training series is cut into runs
(each segment, and a long segment every ``run_rows`` rows), and each run's sensor inputs are
re-centred and re-scaled on its own first N rows (`TimeseriesFeatures.rebase`), exactly as
scoring re-bases each file (and group). What the network learns is then a run's behaviour
relative to its warm-up, not the training run's levels.

Scoring such a model gives each row a score relative to its run's warm-up:
- the per-sensor errors are averaged over the last ``window`` rows of the series (`MovingMean`;
  a fault lasts, a lone noisy row does not), and
- divided by the warm-up's peak: the largest such averaged score among the run's first N rows,
  judged by windows inside the warm-up only (`stream.baseline_of`, known as soon as N rows are read,
  so chunked scoring still equals whole-file scoring).

A score of 1 is then the worst moment of the run's own known-good warm-up, and the bundle's
initial threshold is 1: flag what is worse than anything the warm-up showed (bench/skab.py
reports it beside thresholds cross-fitted on SKAB).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from anomaly.kinds.timeseries.features import TimeseriesFeatures

RUN_ROWS_PER_BASELINE = 2.5  # default run length of a long training series: 2.5 × the warm-up
MIN_PEAK = 1e-12  # a warm-up reconstructed perfectly still divides by something


def default_run_rows(baseline_rows: int) -> int:
    """Training runs cut from one long series, in rows, when ``--run-rows`` is not given.

    Example:
        >>> default_run_rows(400)
        1000
    """
    return round(RUN_ROWS_PER_BASELINE * baseline_rows)


def rebased(values: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`values` re-based by `TimeseriesFeatures.rebase`'s shift and scale, in their own dtype."""
    result: np.ndarray = ((values - shift) / scale).astype(values.dtype)
    return result


def run_starts(starts: np.ndarray, run_rows: int, min_rows: int) -> np.ndarray:
    """Starts of the training runs: every segment start, and every `run_rows` rows within a
    segment; a segment's last piece shorter than `min_rows` stays with the run before it.

    Example:
        >>> run_starts(np.arange(10) == 0, 4, 3).astype(int).tolist()
        [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    """
    out = np.zeros(len(starts), dtype=bool)
    bounds = [*np.flatnonzero(starts).tolist(), len(starts)]
    for a, b in itertools.pairwise(bounds):
        cuts = np.arange(a, b, run_rows)
        if len(cuts) > 1 and b - cuts[-1] < min_rows:
            cuts = cuts[:-1]
        out[cuts] = True
    return out


def rebase_runs(features: TimeseriesFeatures, inputs: np.ndarray, starts: np.ndarray,
                baseline: int) -> tuple[np.ndarray, np.ndarray]:
    """Each run (between `starts`) re-based on its own first `baseline` rows; runs shorter than
    that are left out. Returns the re-based rows kept and their run starts."""
    bounds = [*np.flatnonzero(starts).tolist(), len(starts)]
    parts, flags = [], []
    for a, b in itertools.pairwise(bounds):
        if b - a < baseline:
            continue
        shift, scale = features.rebase(inputs[a:a + baseline])
        parts.append(rebased(inputs[a:b], shift, scale))
        flags.append(np.arange(b - a) == 0)
    if not parts:
        return inputs[:0], starts[:0]
    return np.concatenate(parts), np.concatenate(flags)


class MovingMean:
    """Mean of each row's errors and those of the `width - 1` rows before it in its series,
    carried across chunks (the first rows of a series average what there is).

    Example:
        >>> m = MovingMean(2)
        >>> m(np.array([[1.0], [3.0]])).ravel().tolist(), m(np.array([[5.0]])).ravel().tolist()
        ([1.0, 2.0], [4.0])
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.recent: np.ndarray | None = None  # the last width - 1 rows seen

    def __call__(self, errors: np.ndarray) -> np.ndarray:
        recent = errors[:0] if self.recent is None else self.recent
        rows = np.concatenate([recent, errors]).astype(np.float64)
        total = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0)])
        end = np.arange(len(recent), len(rows)) + 1
        begin = np.maximum(end - self.width, 0)
        self.recent = rows[max(0, len(rows) - self.width + 1):]
        result: np.ndarray = (total[end] - total[begin]) / (end - begin)[:, None]
        return result
