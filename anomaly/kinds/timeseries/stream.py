"""Per-timestamp errors of sliding windows, and scoring a series chunk by chunk.

Windows start every `score_stride` rows of a segment (counted from its first row) plus one at
its end, so each row is covered by about window / score_stride of them (a stride of 4 runs the
network a quarter as often as one window per row). Each window's squared reconstruction error
is computed per sensor; the error of a timestamp
aggregates the windows covering it (`aggregate`): ``point`` — the mean over those windows of the
error at that timestamp's own position (default, chosen on SKAB: fewest false alarms), ``mean``
— the mean over those windows of each window's mean error, ``min`` — the smallest window error
(a timestamp counts only if every window covering it is bad, as SKAB's Conv-AE flags points).

`window_stream` keeps, per group, the last `window - 1` scored rows as context (and where in
its segment the context starts, so a block keeps the segment's window grid) and the rows whose
covering windows are not complete yet; scoring a file in chunks therefore gives exactly what
scoring it at once gives.

With `baseline` rows (``anomaly score --baseline-rows N``) each group's inputs are first
re-centred and re-scaled on that group's own first N rows (`TimeseriesFeatures.rebase`): a new
run of the machine starts from a known-good warm-up, and the network judges the run against it
rather than against the levels of the training run. The first N rows of a group are held back
until they are all read, so chunked scoring still equals whole-file scoring. A run-relative model
(trained with ``--baseline-rows``) also averages each row's errors over the last `window` rows
and divides them by the warm-up's peak (`anomaly.kinds.timeseries.runs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from anomaly.core.scoring import fold_inputs
from anomaly.errors import InputError
from anomaly.kinds.timeseries.features import (
    TimeseriesFeatures,
    group_codes,
    report_duplicates,
    segment_starts,
    time_order,
    window_rows,
    window_starts,
)
from anomaly.kinds.timeseries.runs import MIN_PEAK, MovingMean, rebased
from anomaly.nn.threads import is_small, one_thread

WINDOW_BATCH = 8192  # windows gathered at once (memory ≈ batch × window × sensors)
NETWORK_BATCH = 256  # windows per network call: cache-sized batches run ~1.6× faster on CPU
ERRORS = "_e:"  # prefix of the per-sensor error columns `window_stream` adds


def window_errors(network: nn.Module, windows: np.ndarray) -> np.ndarray:
    """Squared reconstruction error of each window (windows × window × inputs), float32.

    A window network's calls are small work (each time step counted as a row): one thread, as
    for tabular rows (`anomaly.nn.threads`; two threads on a busy 2-core machine ran the
    network 4-40× slower)."""
    network.eval()
    errors = np.empty(windows.shape, dtype=np.float32)
    steps = min(NETWORK_BATCH, len(windows)) * windows.shape[1]
    with torch.inference_mode(), one_thread(is_small(network, steps)):
        for first in range(0, len(windows), NETWORK_BATCH):
            x = torch.from_numpy(np.ascontiguousarray(windows[first:first + NETWORK_BATCH]))
            errors[first:first + NETWORK_BATCH] = network(x).sub_(x).square_().numpy()
    return errors


def timestamp_errors(network: nn.Module, features: TimeseriesFeatures, inputs: np.ndarray,
                     starts: np.ndarray, phase: int = 0) -> np.ndarray:
    """Per-row, per-sensor error aggregated over the windows covering each row (a window every
    `features.score_stride` rows of a segment; `phase`: rows of the first segment before row 0)."""
    first, end = window_starts(starts, features.window, features.score_stride, phase)
    n_sensors = len(features.feature_columns)
    how = features.aggregate
    total = np.full((len(inputs), n_sensors), np.inf if how == "min" else 0.0)
    count = np.zeros(len(inputs))
    for at in range(0, len(first), WINDOW_BATCH):
        idx = window_rows(first[at:at + WINDOW_BATCH], end[at:at + WINDOW_BATCH],
                          features.window)
        err = fold_inputs(window_errors(network, inputs[idx]), features.input_sources,
                          features.feature_columns)
        if how == "min":
            per_window = err.mean(axis=1, dtype=np.float64)
            for k in range(idx.shape[1]):  # rows idx[:, k] are distinct: plain fancy indexing
                total[idx[:, k]] = np.minimum(total[idx[:, k]], per_window)
            continue
        # Sum each row's errors over the windows covering it, without a loop over positions:
        # one weighted bincount per sensor over the rows this batch touches.
        low = int(idx.min())
        span = int(idx.max()) - low + 1
        rows = (idx - low).ravel()
        if how == "point":
            weights = err.reshape(-1, n_sensors)
        else:  # "mean": each window's mean error counts at every row it covers
            weights = np.repeat(err.mean(axis=1, dtype=np.float64), idx.shape[1], axis=0)
        for j in range(n_sensors):
            total[low:low + span, j] += np.bincount(rows, weights=weights[:, j], minlength=span)
        count[low:low + span] += np.bincount(rows, minlength=span)
    if how == "min":
        return total
    result: np.ndarray = total / np.maximum(count, 1)[:, None]
    return result


def error_columns(n_sensors: int) -> list[str]:
    """Names of the per-sensor error columns of `window_stream`'s output."""
    return [f"{ERRORS}{j}" for j in range(n_sensors)]


def stacked_errors(frame: pd.DataFrame, n_sensors: int) -> np.ndarray:
    """The error columns of `window_stream` output as one rows × sensors array."""
    return frame[error_columns(n_sensors)].to_numpy(dtype=np.float64)


Baseline = tuple[np.ndarray, np.ndarray, float]  # a warm-up's shift, scale and peak


@dataclass
class _Warmup:
    """Per-group rows held until the group's first `baseline` rows are read."""

    x: np.ndarray
    t: np.ndarray
    out: pd.DataFrame
    baseline: Baseline | None = None  # set once the warm-up is complete (`baseline_of`)


@dataclass
class _Pending:
    """Per-group scoring state between chunks."""

    ctx_x: np.ndarray  # inputs of the last window-1 scored rows (context)
    ctx_t: np.ndarray
    x: np.ndarray  # inputs of rows not scored yet
    t: np.ndarray
    out: pd.DataFrame  # their carried columns (with "_row", "_seq")
    phase: int = 0  # rows of ctx_x[0]'s segment before it (keeps the window grid)


def window_stream(network: nn.Module, features: TimeseriesFeatures,
                  chunks: Iterable[pd.DataFrame], source: str, policy: str,
                  row_offset: int = 0, baseline: int | None = None,
                  known: dict[str, Baseline] | None = None) -> Iterator[pd.DataFrame]:
    """Carried columns of rows in time order, with "_row" (position in the input) and the
    per-sensor errors (`error_columns`), emitted once every window covering a row is known.

    `baseline`: re-centre and re-scale each group on its own first `baseline` rows (a
    run-relative model: its own unless given; its errors relative to the warm-up's peak);
    `known`: groups whose warm-up was measured already (`baseline_of`), re-based at once."""
    f = features
    relative = f.baseline_rows is not None
    baseline = f.baseline_rows if relative and baseline is None else baseline
    means: dict[str, MovingMean] = {}
    state: dict[str, _Pending] = {}
    warm = {g: _Warmup(np.empty((0, 0)), np.empty(0), pd.DataFrame(), measured)
            for g, measured in (known or {}).items()}
    ready: list[pd.DataFrame] = []
    offset, seq = row_offset, 0
    last_time: dict[str, float] = {}
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        inputs, times, _ = f.rows(chunk, source, policy, offset)
        groups = group_codes(chunk, f.group_col, source)
        report_duplicates(times, groups, source, chunk[f.time_col])
        order = time_order(times, groups, source)
        order = np.arange(len(chunk)) if order is None else order
        out = chunk.iloc[order][[c for c in f.carried_columns if c in chunk.columns]]
        out = out.reset_index(drop=True)
        out["_row"] = offset + order
        out["_seq"] = seq + np.arange(len(chunk))
        inputs, times, groups = inputs[order], times[order], groups[order]
        for key, positions in pd.Series(groups).groupby(groups, sort=False).indices.items():
            g, idx = str(key), np.asarray(positions)
            if g in last_time and times[idx[0]] < last_time[g]:
                where = f" of group {g!r}" if f.group_col else ""
                raise InputError(f"{source}: row {offset + order[idx[0]] + 1:,}{where} goes "
                                 "back in time across a chunk boundary — sort the file by "
                                 "time (and group) before scoring it in chunks")
            last_time[g] = float(times[idx[-1]])
            x, t, part = inputs[idx], times[idx], out.iloc[idx]
            if baseline is not None:
                x, t, part = _warm_up(network, f, warm, g, x, t, part, baseline)
                if not len(x):  # still in its warm-up
                    continue
            done = _advance(network, f, state, g, x, t, part, final=False)
            ready += _relative(done, means, g, warm, f) if relative else done
        offset += len(chunk)
        seq += len(chunk)
        held = [p.out for p in state.values()] + [w.out for w in warm.values()]
        waiting = [int(out["_seq"].iloc[0]) for out in held if len(out)]
        yield from _emit(ready, min(waiting, default=seq))
    if seq < f.window:
        raise InputError(f"{source}: {seq:,} row(s) — shorter than one window "
                         f"({f.window} rows); score at least {f.window} rows of the series")
    short = {g: len(w.x) for g, w in warm.items() if w.baseline is None}
    if baseline is not None and short:
        g, n = next(iter(short.items()))
        where = f"group {g!r} of the file" if f.group_col else "the file"
        raise InputError(f"{source}: {where} has {n:,} row(s) — --baseline-rows {baseline:,} "
                         "needs at least that many rows per file (and group) to learn the "
                         "run's own levels; pass a smaller --baseline-rows or leave it out")
    for g, p in state.items():
        done = _advance(network, f, state, g, p.x[:0], p.t[:0], p.out.iloc[:0], final=True)
        ready += _relative(done, means, g, warm, f) if relative else done
    yield from _emit(ready, seq)


def _relative(parts: list[pd.DataFrame], means: dict[str, MovingMean], group: str,
              warm: dict[str, _Warmup], features: TimeseriesFeatures) -> list[pd.DataFrame]:
    """A run-relative model's errors of one group's scored rows (in time order): their moving
    mean over `window` rows, divided by the group's warm-up peak."""
    columns = error_columns(len(features.feature_columns))
    mean = means.setdefault(group, MovingMean(features.window))
    measured = warm[group].baseline
    assert measured is not None  # a run-relative model re-bases every group before scoring it
    peak = measured[2]
    for part in parts:
        part[columns] = mean(part[columns].to_numpy(dtype=np.float64)) / peak
    return parts


def baseline_of(network: nn.Module, features: TimeseriesFeatures, warmup: np.ndarray,
                times: np.ndarray) -> Baseline:
    """A run's warm-up rows (scaled inputs) → the shift and scale that re-base the run and, for
    a run-relative model, the peak: the largest moving-mean score (mean error over sensors)
    among the re-based warm-up rows, judged by windows inside the warm-up only."""
    shift, scale = features.rebase(warmup)
    if features.baseline_rows is None:
        return shift, scale, 1.0
    starts = segment_starts(times, np.zeros(len(times)), features.max_gap)
    errors = timestamp_errors(network, features, rebased(warmup, shift, scale), starts)
    smoothed = MovingMean(features.window)(errors)
    return shift, scale, max(float(smoothed.mean(axis=1).max()), MIN_PEAK)


def _warm_up(network: nn.Module, features: TimeseriesFeatures, warm: dict[str, _Warmup],
             group: str, x: np.ndarray, t: np.ndarray, out: pd.DataFrame, baseline: int
             ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Rows of one group ready to score, rebased on its first `baseline` rows (held till then;
    a run-relative model also measures the warm-up's peak then)."""
    w = warm.get(group)
    if w is None:
        w = warm[group] = _Warmup(x[:0], t[:0], out.iloc[:0])
    if w.baseline is None:
        w.x, w.t = np.concatenate([w.x, x]), np.concatenate([w.t, t])
        w.out = pd.concat([w.out, out]) if len(w.out) else out
        if len(w.x) < baseline:
            return x[:0], t[:0], out.iloc[:0]
        w.baseline = baseline_of(network, features, w.x[:baseline], w.t[:baseline])
        x, t, out = w.x, w.t, w.out
        w.x, w.t, w.out = x[:0], t[:0], out.iloc[:0]
    shift, scale, _ = w.baseline
    return rebased(x, shift, scale), t, out


def _advance(network: nn.Module, features: TimeseriesFeatures, state: dict[str, _Pending],
             group: str, x: np.ndarray, t: np.ndarray, out: pd.DataFrame,
             final: bool) -> list[pd.DataFrame]:
    """Add rows of one group; return the rows whose windows are now all known."""
    w = features.window
    p = state.get(group)
    if p is None:
        p = _Pending(x[:0], t[:0], x[:0], t[:0], out.iloc[:0])
    bx = np.concatenate([p.ctx_x, p.x, x])
    bt = np.concatenate([p.ctx_t, p.t, t])
    pending_out = pd.concat([p.out, out]) if len(p.out) else out
    n, n_ctx = len(bx), len(p.ctx_x)
    starts = segment_starts(bt, np.zeros(n), features.max_gap)
    if final:
        n_done = n - n_ctx
    else:
        # a row is complete when its segment ends inside the block or W-1 rows follow it (W
        # rows with a stride: the window at the segment's end covers the W-1 rows before it)
        seg_end = [*np.flatnonzero(starts).tolist()[1:], n]
        next_start = np.repeat(seg_end, np.diff([*np.flatnonzero(starts).tolist(), n]))
        done = (next_start < n) | (np.arange(n) <= n - w - (features.score_stride > 1))
        n_done = int(done[n_ctx:].sum())  # a prefix: completeness is monotone
    result: list[pd.DataFrame] = []
    if n_done:
        # windows covering the complete rows all lie inside the block (see module docstring)
        errors = timestamp_errors(network, features, bx, starts, p.phase)
        done_errors = pd.DataFrame(errors[n_ctx:n_ctx + n_done],
                                   columns=error_columns(errors.shape[1]))
        scored = pending_out.iloc[:n_done].reset_index(drop=True)
        result.append(pd.concat([scored, done_errors], axis=1))
    keep = max(0, n_ctx + n_done - (w - 1))
    segment = int(np.flatnonzero(starts[:keep + 1])[-1]) if n else 0  # bx[keep]'s segment
    state[group] = _Pending(bx[keep:n_ctx + n_done], bt[keep:n_ctx + n_done],
                            bx[n_ctx + n_done:], bt[n_ctx + n_done:],
                            pending_out.iloc[n_done:],
                            keep - segment + (p.phase if segment == 0 else 0))
    return result


def _emit(ready: list[pd.DataFrame], before: int) -> Iterator[pd.DataFrame]:
    """Yield (and remove from `ready`) the rows with sequence number < `before`, in order."""
    if not ready:
        return
    rows = pd.concat(ready)
    ready.clear()
    rows = rows.sort_values("_seq", kind="stable")
    out = rows[rows["_seq"] < before]
    rest = rows[rows["_seq"] >= before]
    if len(rest):
        ready.append(rest)
    if len(out):
        yield out.drop(columns=["_seq"])

