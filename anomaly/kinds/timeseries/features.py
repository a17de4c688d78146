"""Time-series features: time order, groups, gaps, sensor scaling and sliding windows.

Sensors are scaled by the tabular transform (fitted on training rows only). Rows are put in time
order within each group; a *segment* is a run of rows of one group without a gap (a time step
larger than `max_gap`). Windows never cross a segment boundary, so they never cross groups or
gaps. A segment shorter than the window gets one window padded by repeating its last row.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anomaly.config import DataConfig, WindowConfig
from anomaly.errors import InputError, SchemaError
from anomaly.kinds.tabular.features import TabularFeatures, fmt_row
from anomaly.kinds.timeseries.runs import default_run_rows, rebase_runs, run_starts

log = logging.getLogger("anomaly")

AUTO_GAP_STEPS = 3.0  # automatic gap: a step over 3 × the median training step
REBASE_MIN_SCALE = 1e-3  # a sensor constant through the warm-up is shifted, not blown up


def time_values(frame: pd.DataFrame, column: str, source: str, row_offset: int = 0
                ) -> np.ndarray:
    """Timestamps as float seconds (datetimes) or as given (plain numbers)."""
    if column not in frame.columns:
        raise SchemaError(f"{source}: time column {column!r} is not in the file — columns are: "
                          f"{', '.join(map(str, frame.columns))}")
    series = frame[column]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        parsed = pd.to_datetime(series, errors="coerce", format="mixed")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        ns = parsed.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        values = np.where(parsed.isna().to_numpy(), np.nan, ns / 1e9)
    bad = np.isnan(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: time column {column!r} row {fmt_row(first + row_offset)}: "
                         f"{series.iloc[first]!r} is not a timestamp ({int(bad.sum()):,} such "
                         "row(s)) — fix or drop those rows")
    return values


def group_codes(frame: pd.DataFrame, column: str | None, source: str) -> np.ndarray:
    """Group label of each row as text ("" when there is no group column)."""
    if column is None:
        return np.full(len(frame), "", dtype=object)
    if column not in frame.columns:
        raise SchemaError(f"{source}: group column {column!r} is not in the file — columns are: "
                          f"{', '.join(map(str, frame.columns))}")
    codes: np.ndarray = frame[column].astype("string").fillna("").to_numpy(dtype=object)
    return codes


def time_order(times: np.ndarray, groups: np.ndarray, source: str, note: bool = True
               ) -> np.ndarray | None:
    """Stable order that sorts rows by time, or None when each group is already in time order."""
    if len(times) < 2:
        return None
    if (groups == groups[0]).all():
        in_order = bool((np.diff(times) >= 0).all())
    else:
        frame = pd.DataFrame({"t": times, "g": groups})
        in_order = bool(frame.groupby("g", sort=False)["t"].is_monotonic_increasing.all())
    if in_order:
        return None
    if note:
        log.warning("%s: rows are not in time order — sorted by time (within each group)", source)
    result: np.ndarray = np.argsort(times, kind="stable")
    return result


def report_duplicates(times: np.ndarray, groups: np.ndarray, source: str,
                      raw: pd.Series) -> int:
    """Warn about repeated timestamps within a group (kept, in input order); return the count."""
    frame = pd.DataFrame({"t": times, "g": groups})
    dup = frame.duplicated(keep="first").to_numpy()
    count = int(dup.sum())
    if count:
        first = int(np.flatnonzero(dup)[0])
        log.warning("%s: %d duplicate timestamp(s) (first: %r) — kept in file order; "
                    "deduplicate the file if they are repeated readings", source, count,
                    str(raw.iloc[first]))
    return count


def segment_starts(times: np.ndarray, groups: np.ndarray, max_gap: float) -> np.ndarray:
    """Boolean mask of rows that start a segment (new group or a gap before them)."""
    starts = np.ones(len(times), dtype=bool)
    if len(times) > 1:
        starts[1:] = (groups[1:] != groups[:-1]) | (np.diff(times) > max_gap)
    return starts


def window_starts(starts: np.ndarray, window: int, stride: int = 1, phase: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """First row of every window and the end (exclusive) of its segment; windows never cross a
    segment start, and a segment shorter than the window gets one window (padded by `window_rows`).

    Windows start every `stride` rows counted from their segment's first row, plus one at the
    segment's end. `phase`: rows of the first segment that lie before row 0 (a block that
    continues a segment keeps the segment's grid, so scoring in chunks equals scoring at once).

    Example:
        >>> [a.tolist() for a in window_starts(np.array([1, 0, 0, 0, 1, 0], dtype=bool), 3)]
        [[0, 1, 4], [4, 4, 6]]
        >>> window_starts(np.arange(9) == 0, 3, stride=3, phase=1)[0].tolist()
        [2, 5, 6]
    """
    bounds = [*np.flatnonzero(starts).tolist(), len(starts)]
    firsts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for a, b in itertools.pairwise(bounds):
        if b - a >= window:
            first = np.arange(a + (-phase % stride if a == 0 else 0), b - window + 1, stride)
            if not len(first) or first[-1] != b - window:  # a segment's last rows are covered
                first = np.append(first, b - window)
        else:
            first = np.array([a])
        firsts.append(first)
        ends.append(np.full(len(first), b))
    if not firsts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(firsts).astype(np.int64), np.concatenate(ends).astype(np.int64)


def window_rows(first: np.ndarray, end: np.ndarray, window: int) -> np.ndarray:
    """Row indices (windows × window) of windows starting at `first` in segments ending at
    `end`; a window longer than its segment repeats the segment's last row."""
    rows: np.ndarray = np.minimum(first[:, None] + np.arange(window), end[:, None] - 1)
    return rows


def window_index(starts: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """Row indices of every window (n_windows × window), never crossing a segment start.

    Example:
        >>> window_index(np.array([1, 0, 0, 0, 1, 0], dtype=bool), 3).tolist()
        [[0, 1, 2], [1, 2, 3], [4, 5, 5]]
    """
    return window_rows(*window_starts(starts, window, stride), window)


@dataclass
class TimeseriesFeatures:
    """Sensor scaling (tabular transform) plus the window spec, all JSON.

    Example:
        >>> frame = pd.DataFrame({"t": range(50), "a": np.sin(np.arange(50.0))})
        >>> f = TimeseriesFeatures().fit(frame, DataConfig(time_col="t"), WindowConfig(window=8))
        >>> f.windows(frame, "x")[0].shape
        (43, 8, 1)
    """

    table: TabularFeatures = field(default_factory=TabularFeatures)
    time_col: str = ""
    group_col: str | None = None
    window: int = 32
    stride: int = 1
    max_gap: float = 0.0
    step: float = 1.0
    aggregate: str = "mean"
    score_stride: int = 1  # scoring: a window every `score_stride` rows (bundles before: 1)
    baseline_rows: int | None = None  # run-relative model: runs re-based on their first rows
    run_rows: int = 0  # training runs cut from a long segment (run-relative models)

    def fit(self, frame: pd.DataFrame, data: DataConfig, spec: WindowConfig,
            source: str = "input") -> TimeseriesFeatures:
        """Learn scaling from training rows and the sampling step from their time stamps."""
        if not data.time_col:
            raise InputError(f"{source}: --kind timeseries needs --time-col (the timestamp "
                             "column)")
        self.time_col, self.group_col = data.time_col, spec.group_col
        self.window, self.stride, self.aggregate = spec.window, spec.stride, spec.aggregate
        self.score_stride = spec.score_stride
        self.baseline_rows = spec.baseline_rows
        self.run_rows = spec.run_rows or (default_run_rows(spec.baseline_rows)
                                          if spec.baseline_rows else 0)
        extra = tuple(c for c in (spec.group_col,) if c and c not in data.id_col)
        config = DataConfig(id_col=(*data.id_col, *extra), time_col=data.time_col,
                            label_col=data.label_col, column_types=data.column_types,
                            on_bad_rows=data.on_bad_rows, max_categories=data.max_categories)
        self.table = TabularFeatures().fit(frame, config, source)
        times = time_values(frame, self.time_col, source)
        groups = group_codes(frame, self.group_col, source)
        steps = np.diff(times)[(groups[1:] == groups[:-1])]
        steps = steps[steps > 0]
        self.step = float(np.median(steps)) if len(steps) else 1.0
        self.max_gap = spec.max_gap or AUTO_GAP_STEPS * self.step
        return self

    # ------------------------------------------------------------ properties
    @property
    def feature_columns(self) -> list[str]:
        return self.table.feature_columns

    @property
    def input_names(self) -> list[str]:
        return self.table.input_names

    @property
    def input_sources(self) -> list[str]:
        return self.table.input_sources

    @property
    def numeric(self) -> list[Any]:
        return self.table.numeric

    @property
    def carried_columns(self) -> list[str]:
        return self.table.carried_columns

    # ------------------------------------------------------------- transform
    def rows(self, frame: pd.DataFrame, source: str, policy: str = "fail",
             row_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled inputs per row, times and segment starts of a time-ordered frame."""
        inputs, keep = self.table.transform(frame, source, policy, row_offset)
        if not keep.all():
            raise InputError(f"{source}: {int((~keep).sum()):,} bad sensor value(s) — a time "
                             "series cannot skip rows silently; fix the values (leave them "
                             "empty to mark them missing)")
        times = time_values(frame, self.time_col, source, row_offset)
        groups = group_codes(frame, self.group_col, source)
        return inputs, times, segment_starts(times, groups, self.max_gap)

    def rebase(self, warmup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shift and scale that give the scaled sensor inputs of `warmup` (a run's first rows)
        mean 0 and standard deviation 1, as the training rows have; missing flags and one-hot
        inputs keep shift 0, scale 1.

        Example:
            >>> frame = pd.DataFrame({"t": range(4), "a": [0.0, 2.0, 4.0, 6.0]})
            >>> f = TimeseriesFeatures().fit(frame, DataConfig(time_col="t"), WindowConfig())
            >>> [v.round(3).tolist() for v in f.rebase(np.array([[3.0], [5.0]]))]
            [[4.0], [1.0]]
        """
        values = warmup.astype(np.float64)
        numeric = {c.name for c in self.numeric}
        plain = np.array([name == src and src in numeric
                          for name, src in zip(self.input_names, self.input_sources,
                                               strict=True)])
        shift = np.where(plain, values.mean(axis=0), 0.0)
        scale = np.where(plain, np.maximum(values.std(axis=0), REBASE_MIN_SCALE), 1.0)
        return shift, scale

    def windows(self, frame: pd.DataFrame, source: str, policy: str = "fail",
                stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Training windows (n × window × inputs) of a time-ordered frame and their row index
        (of a run-relative model: the runs' re-based rows, `anomaly.kinds.timeseries.runs`)."""
        inputs, _, starts = self.rows(frame, source, policy)
        if self.baseline_rows is not None:
            runs = run_starts(starts, self.run_rows, self.baseline_rows + self.window)
            inputs, starts = rebase_runs(self, inputs, runs, self.baseline_rows)
            if not len(inputs):
                raise InputError(f"{source}: no run of at least --baseline-rows "
                                 f"{self.baseline_rows:,} rows — pass a smaller --baseline-rows "
                                 "or give longer runs")
        index = window_index(starts, self.window, stride or self.stride)
        return inputs[index], index

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        return {"table": self.table.to_json(), "time_col": self.time_col,
                "group_col": self.group_col, "window": self.window, "stride": self.stride,
                "max_gap": self.max_gap, "step": self.step, "aggregate": self.aggregate,
                "score_stride": self.score_stride,
                **({"baseline_rows": self.baseline_rows, "run_rows": self.run_rows}
                   if self.baseline_rows is not None else {})}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TimeseriesFeatures:
        return cls(table=TabularFeatures.from_json(raw["table"]), time_col=raw["time_col"],
                   group_col=raw.get("group_col"), window=int(raw["window"]),
                   stride=int(raw["stride"]), max_gap=float(raw["max_gap"]),
                   step=float(raw["step"]), aggregate=str(raw.get("aggregate", "mean")),
                   score_stride=int(raw.get("score_stride", 1)),
                   baseline_rows=(None if raw.get("baseline_rows") is None
                                  else int(raw["baseline_rows"])),
                   run_rows=int(raw.get("run_rows", 0)))
