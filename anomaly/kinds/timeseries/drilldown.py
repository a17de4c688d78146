"""What a time-series drill-down judges a timestamp with: the rows of its series around it
(`context_order`: exactly those that give it the whole file's score) and the window ending at
it, input against reconstruction in the sensors' own units (`window_view`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from anomaly.core.kind import Model
from anomaly.errors import InputError
from anomaly.kinds.timeseries.features import (
    TimeseriesFeatures,
    group_codes,
    segment_starts,
    time_values,
)
from anomaly.kinds.timeseries.runs import rebased
from anomaly.kinds.timeseries.stream import Baseline, baseline_of


def group_order(frame: pd.DataFrame, position: int, features: TimeseriesFeatures
                ) -> tuple[np.ndarray, int]:
    """The positions of the rows of `position`'s group in time order, and its place among them."""
    if not 0 <= position < len(frame):
        raise InputError(f"row {position + 1:,} is outside the data ({len(frame):,} rows)")
    times = time_values(frame, features.time_col, "input")
    groups = group_codes(frame, features.group_col, "input")
    same = np.flatnonzero(groups == groups[position])
    order = same[np.argsort(times[same], kind="stable")]
    return order, int(np.flatnonzero(order == position)[0])


def warmup_of(model: Model, frame: pd.DataFrame, order: np.ndarray, position: int,
              source: str) -> dict[str, Baseline]:
    """The warm-up of a group (`order`: its rows in time order, `group_order`), measured as
    scoring the whole file measures it: its re-basing and, for a run-relative model, its peak."""
    f, n = model.features, int(model.baseline_rows or 0)
    if len(order) < n:
        raise InputError(f"{source}: the series of row {position + 1:,} has {len(order):,} "
                         f"row(s) — --baseline-rows {n:,} needs at least that many")
    warm_up = frame.iloc[order[:n]]
    x, t, _ = f.rows(warm_up, source)
    group = group_codes(warm_up.iloc[:1], f.group_col, source)[0]
    return {group: baseline_of(model.network, f, x, t)}


def context_order(order: np.ndarray, at: int, frame: pd.DataFrame,
                  features: TimeseriesFeatures, moving_mean: bool = False) -> np.ndarray:
    """Of a group's rows in time order (`group_order`), those whose windows can cover row `at`,
    starting on the window grid of their segment so that they score it as the whole file does;
    `moving_mean`: also the window of rows before it (and theirs), across gaps."""
    f = features
    times = time_values(frame.iloc[order], f.time_col, "input")
    starts = segment_starts(times, np.zeros(len(order)), f.max_gap)
    if moving_mean:
        first = max(0, at - 2 * (f.window - 1))
    else:
        first = max(int(np.flatnonzero(starts[:at + 1])[-1]), at - f.window + 1)
    segment = int(np.flatnonzero(starts[:first + 1])[-1])
    first -= (first - segment) % f.score_stride
    # with a stride, one more row: a segment that ends there would add a window covering `at`
    return order[first:at + f.window + (f.score_stride > 1)]


def window_view(model: Model, context: pd.DataFrame, at: int,
                baseline: Baseline | None = None) -> pd.DataFrame:
    """The window that ends at row `at` of a time-ordered `context` (the first window when
    fewer rows precede it), long form: each sensor's input and reconstruction at each time,
    in the sensor's own units."""
    f = model.features
    inputs, _, _ = f.rows(context, "input")
    shift, scale = np.zeros(inputs.shape[1]), np.ones(inputs.shape[1])
    if baseline is not None:  # the network sees the run re-based on its warm-up
        shift, scale, _ = baseline
        inputs = rebased(inputs, shift, scale)
    first = min(max(0, at - f.window + 1), max(0, len(context) - f.window))
    x = inputs[first:first + f.window]
    if len(x) < f.window:  # a short series: padded as scoring pads it
        x = np.concatenate([x, np.repeat(x[-1:], f.window - len(x), axis=0)])
    model.network.eval()
    with torch.inference_mode():
        recon = model.network(torch.from_numpy(np.ascontiguousarray(x[None]))).numpy()[0]
    times = context[f.time_col].to_numpy()[first:first + f.window]
    parts = []
    for j, column in enumerate(f.input_names):
        sensor = next((c for c in f.numeric if c.name == column), None)
        if sensor is None:  # missing flags and one-hot inputs: not a sensor's reading
            continue
        parts.append(pd.DataFrame({
            "time": times, "sensor": column,
            "input": (x[:len(times), j] * scale[j] + shift[j]) * sensor.scale + sensor.center,
            "reconstruction": (recon[:len(times), j] * scale[j] + shift[j]) * sensor.scale
            + sensor.center}))
    return pd.concat(parts, ignore_index=True)
