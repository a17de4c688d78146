"""Equipment sensors: sliding windows of readings, one score per timestamp.

Training: rows are put in time order (per group), the last `val_fraction` of each group's rows is
held out for validation (a time split: overlapping windows would leak across a random split), the
sensor scaling is fitted on the training rows, and the network learns to reconstruct windows of
`window` rows taken every `stride` rows.

Scoring runs the network on a window every `score_stride` rows of a segment, plus one at its
end, and each row gets the windows covering it (`anomaly.kinds.timeseries.stream`; bundles made
before the option score every window). The per-sensor errors
are divided by one pooled scale (their mean on validation rows) and averaged by the `Scorer`, so
a score of 1 is a typical normal timestamp and `top_features` are the sensors with the largest
error share. The initial threshold is 2 × the largest validation score (the ``margin`` method;
SKAB's Conv-AE uses a margin over training residuals too).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from anomaly.config import MIN_STEPS, Settings, TrainingConfig, batch_for_steps
from anomaly.core.kind import (
    ByteRanges,
    Calibration,
    Explanation,
    Item,
    Model,
    RowScores,
    Split,
    source_of,
)
from anomaly.core.scoring import Scorer, scored_frame
from anomaly.core.thresholds import choose_threshold
from anomaly.errors import InputError
from anomaly.io import iter_table, read_table
from anomaly.kinds import KIND_ITEMS
from anomaly.kinds.tabular.kind import column_schema, read_tables
from anomaly.kinds.timeseries.drilldown import (
    context_order,
    group_order,
    warmup_of,
    window_view,
)
from anomaly.kinds.timeseries.events import EventCollector
from anomaly.kinds.timeseries.features import (
    TimeseriesFeatures,
    group_codes,
    report_duplicates,
    time_order,
    time_values,
)
from anomaly.kinds.timeseries.report import describe_metrics, timeseries_metrics
from anomaly.kinds.timeseries.stream import (
    Baseline,
    error_columns,
    stacked_errors,
    timestamp_errors,
    window_stream,
)
from anomaly.nn.dense import default_hidden

log = logging.getLogger("anomaly")

CONV_CHANNELS = (32, 16)
LSTM_SIZES = (32, 16)
THRESHOLD_MARGIN = 2.0  # initial threshold: margin × the largest validation score (bench/skab.py)


class TimeseriesKind:
    """Autoencoder over sliding windows of sensor readings (``kind="timeseries"``).

    Example:
        >>> from anomaly import Detector
        >>> t = np.arange(400)
        >>> df = pd.DataFrame({"t": t, "a": np.sin(t / 5), "b": np.cos(t / 5)})
        >>> det = Detector("timeseries", time_col="t", window=16, max_epochs=2).fit(df)
        >>> len(det.score_frame(df)) == len(df)
        True
    """

    name = "timeseries"
    item = KIND_ITEMS["timeseries"]
    default_latent_weight = 0.0  # window codes: the scorer uses reconstruction alone
    default_neighbours = 0
    partitionable = False  # windows span rows: a file is scored in one stream
    rebaselines = True  # --baseline-rows: each file (group) judged against its warm-up
    file_patterns = ("*.csv", "*.parquet", "*.pq")

    def read(self, data: Any, settings: Settings, source: str,
             features: Any | None = None, label_col: str | None = None) -> pd.DataFrame:
        if not settings.data.time_col:
            raise InputError("--kind timeseries needs --time-col (the timestamp column)")
        return read_tables(data)

    def split(self, frame: pd.DataFrame, settings: Settings) -> Split:
        """Time split per group: the last `val_fraction` of each group's rows validates."""
        spec, source = settings.window, source_of(frame)
        frame = ordered(frame, source, str(settings.data.time_col), spec.group_col)
        groups = group_codes(frame, spec.group_col, source)
        train_idx: list[np.ndarray] = []
        val_idx: list[np.ndarray] = []
        for positions in pd.Series(groups).groupby(groups, sort=False).indices.values():
            idx = np.asarray(positions)
            n_val = max(1, round(settings.training.val_fraction * len(idx)))
            train_idx.append(idx[:len(idx) - n_val])
            val_idx.append(idx[len(idx) - n_val:])
        train = frame.iloc[np.sort(np.concatenate(train_idx))]
        val = frame.iloc[np.sort(np.concatenate(val_idx))]
        if spec.baseline_rows is not None:
            check_validation_runs(val, groups[np.sort(np.concatenate(val_idx))], spec,
                                  source)
        if len(train) < spec.window + 8 or len(val) < 2:
            raise InputError(f"{source}: {len(frame):,} normal row(s) — a window of "
                             f"{spec.window} rows needs at least {spec.window + 8} training rows "
                             "plus validation rows; add rows or pass a smaller --window")
        return Split(train, val, frame)

    def fit_features(self, split: Split, settings: Settings, source: str) -> TimeseriesFeatures:
        return TimeseriesFeatures().fit(split.train, settings.data, settings.window, source)

    def features_from_json(self, raw: dict[str, Any]) -> TimeseriesFeatures:
        return TimeseriesFeatures.from_json(raw)

    def inputs(self, features: Any, frame: pd.DataFrame, settings: Settings,
               source: str) -> np.ndarray:
        """Windows (n × window × inputs) of a time-ordered frame."""
        windows, _ = features.windows(frame, source, settings.data.on_bad_rows)
        return np.asarray(windows)

    def network_spec(self, train_x: np.ndarray, settings: Settings,
                     features: Any = None) -> tuple[str, dict[str, Any]]:
        n_channels, window = int(train_x.shape[2]), int(train_x.shape[1])
        m, kind = settings.model, settings.window.model
        if kind == "lstm":
            sizes = m.hidden or LSTM_SIZES
            return "LSTMAutoencoder", {"n_channels": n_channels, "window": window,
                                       "hidden": int(sizes[0]),
                                       "code": int(sizes[-1] if len(sizes) > 1 else sizes[0])}
        if kind == "dense":
            return "WindowDenseAutoencoder", {
                "n_channels": n_channels, "window": window,
                "hidden": list(m.hidden or default_hidden(n_channels * window)),
                "activation": m.activation, "dropout": m.dropout, "norm": m.norm}
        return "ConvAutoencoder", {"n_channels": n_channels, "window": window,
                                   "channels": list(m.hidden or CONV_CHANNELS), "kernel": 7,
                                   "activation": m.activation, "dropout": m.dropout}

    def training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        """Smaller batches when there are few training windows, so every epoch takes at least
        `MIN_STEPS` steps (400 rows in batches of 256 would train 2 steps an epoch; on SKAB's
        400-row fits this lifts F1 from 0.64 to 0.68)."""
        adapted = batch_for_steps(cfg, n_train)
        if adapted.batch_size < cfg.batch_size:
            log.info("%d training windows: batch size %d instead of %d (at least %d steps an "
                     "epoch)", n_train, adapted.batch_size, cfg.batch_size, MIN_STEPS)
        return adapted

    def calibrate(self, features: Any, network: nn.Module, split: Split, train_x: np.ndarray,
                  val_x: np.ndarray, latent_weight: float, threshold_q: float | None,
                  neighbours: int = 0, seed: int = 0) -> Calibration:
        """Scorer on per-timestamp errors of the validation rows; margin (or quantile) threshold
        (a run-relative model: `relative_calibration`)."""
        if features.baseline_rows is not None:
            return relative_calibration(features, network, split, threshold_q)
        inputs, _, starts = features.rows(split.validation, "validation rows")
        errors = timestamp_errors(network, features, inputs, starts)
        # One error scale for all sensors (sensors are already standardised): on SKAB it gave
        # fewer false alarms than per-sensor scales, which blow up the drift of quiet sensors.
        pooled = max(float(errors.mean()), 1e-12)
        scorer = Scorer(features.feature_columns, np.full(errors.shape[1], pooled))
        validation = np.sort(scorer.score(errors)[0])
        if threshold_q is None:
            return Calibration(scorer, validation,
                               choose_threshold("margin", validation, margin=THRESHOLD_MARGIN),
                               "initial threshold: margin × the largest validation score")
        return Calibration(scorer, validation,
                           choose_threshold("quantile", validation, q=threshold_q),
                           "initial threshold")

    def read_file(self, model: Model, path: Path, chunk_rows: int,
                  block_bytes: int) -> Iterator[pd.DataFrame]:
        """Blocks of the file; sensors parsed as float64 straight from CSV, ids and the group
        column kept as written."""
        group = [model.features.group_col] if model.features.group_col else []
        return iter_table(path, chunk_rows, self.csv_numeric(model), block_bytes,
                          [*model.settings.data.id_col, *group])

    def byte_ranges(self, model: Model, path: Path, range_bytes: int) -> ByteRanges | None:
        """Windows span rows and time order: a file is read in one piece."""
        return None

    def csv_numeric(self, model: Model) -> list[str]:
        return [str(c.name) for c in model.features.numeric]

    def score_stream(self, model: Model, chunks: Iterable[pd.DataFrame], source: str,
                     policy: str, threshold: float, row_offset: int = 0
                     ) -> Iterator[pd.DataFrame]:
        """Scored rows in time order (per group); chunks must continue each other in time."""
        n = len(model.features.feature_columns)
        for rows in window_stream(model.network, model.features, chunks, source, policy,
                                  row_offset, model.baseline_rows):
            scores, shares = model.scorer.score(stacked_errors(rows, n))
            yield scored_frame(rows.drop(columns=["_row", *error_columns(n)]), scores, shares,
                               model.validation_scores, model.features.feature_columns,
                               threshold)

    def row_scores(self, model: Model, frame: pd.DataFrame, source: str,
                   policy: str) -> RowScores:
        """Scores in the input's row order (scoring itself runs in time order)."""
        return frame_scores(model, frame, source, policy)

    def explain(self, model: Model, frame: pd.DataFrame, position: int) -> Explanation:
        """The timestamp at row `position`, judged with the windows covering it: the rows of its
        group from `window - 1` before it to `window - 1` after it, in time order (a re-based
        model: its group's warm-up measured first, and a window more before it for the moving
        mean)."""
        f, source = model.features, source_of(frame)
        order, place = group_order(frame, position, f)
        known = {}  # a re-based model: the file's warm-up, measured as scoring measures it
        if model.baseline_rows is not None:
            known = warmup_of(model, frame, order, position, source)
        context = frame.iloc[context_order(order, place, frame, f, bool(known))]
        rows = frame_scores(model, context, source, "fail", known)
        at = int(np.flatnonzero(context.index.to_numpy() == frame.index[position])[0])
        row = context.iloc[at]
        table = pd.DataFrame({"feature": f.feature_columns,
                              "value": [f"{row[c]:.6g}" if isinstance(row[c], numbers.Real)
                                        else str(row[c]) for c in f.feature_columns],
                              "error_share": rows.shares[at]})
        return Explanation(float(rows.scores[at]),
                           table.sort_values("error_share", ascending=False, ignore_index=True),
                           window_view(model, context, at, next(iter(known.values()), None)))

    def find(self, model: Model, path: Path, key: str, group: str | None = None) -> Item:
        """The row at time `key`, read as the time column is read (``2024-03-01 06:00`` finds
        ``2024-03-01T06:00:00``; ``120`` finds ``120.0``), in series `group` when the model has
        a group column (needed when several series hold that time)."""
        frame = read_table(path)
        frame.attrs["source"] = str(path)
        column = model.features.time_col
        times = time_values(frame, column, str(path))
        probe = pd.DataFrame({column: [key]})
        if pd.api.types.is_numeric_dtype(frame[column]):
            probe[column] = pd.to_numeric(probe[column], errors="coerce")
        try:
            wanted = time_values(probe, column, "--item")[0]
        except InputError:
            wanted = np.nan  # not a time at all: found nowhere
        hits = np.flatnonzero(times == wanted)
        group_col = model.features.group_col
        if group is not None and group_col is None:
            raise InputError("--group: this model has no group column — leave it out")
        if group_col is not None and group is not None:
            hits = hits[frame[group_col].iloc[hits].astype(str).to_numpy() == group]
        if not len(hits):
            where = f" and {group_col}={group}" if group is not None else ""
            raise InputError(f"{path}: no row with {column}={key}{where} — keys are in the "
                             f"{column!r} column of the scored output")
        if group_col is not None and group is None:
            names = frame[group_col].iloc[hits].astype(str).unique()
            if len(names) > 1:
                raise InputError(f"{path}: {len(names)} series have {column}={key} "
                                 f"({', '.join(names[:5])}) — say which with --group "
                                 f"{names[0]}")
        return Item(frame, int(hits[0]), [])

    def events(self, model: Model) -> EventCollector:
        """Flagged timestamps joined into events across gaps shorter than one window."""
        f = model.features
        return EventCollector(f.time_col, f.group_col, f.window)

    def schema(self, features: Any, settings: Settings) -> list[dict[str, str]]:
        return column_schema(features.table, settings, features.group_col)

    def metrics(self, model: Model, frame: pd.DataFrame, labels: np.ndarray,
                flags: np.ndarray) -> tuple[dict[str, Any], list[str]]:
        """SKAB, point-adjusted and event metrics, on the rows in time order."""
        f = model.features
        order = time_order(time_values(frame, f.time_col, "input"),
                           group_codes(frame, f.group_col, "input"), "input", note=False)
        if order is not None:
            labels, flags = labels[order], flags[order]
        values = timeseries_metrics(labels, flags)
        return {"timeseries": values}, describe_metrics(values)

    def summary(self, features: Any, train_x: np.ndarray, val_x: np.ndarray,
                split: Split) -> dict[str, Any]:
        """Rows and windows: each training window is `window` rows taken every `stride` rows."""
        return {"train_rows": len(split.train), "validation_rows": len(split.validation),
                "train_windows": len(train_x), "validation_windows": len(val_x),
                "window": features.window}


def ordered(frame: pd.DataFrame, source: str, time_col: str, group_col: str | None
            ) -> pd.DataFrame:
    """`frame` in time order within each group (with a note when it had to be sorted)."""
    times = time_values(frame, time_col, source)
    groups = group_codes(frame, group_col, source)
    report_duplicates(times, groups, source, frame[time_col])
    order = time_order(times, groups, source)
    return frame if order is None else frame.iloc[order]


def frame_scores(model: Model, frame: pd.DataFrame, source: str, policy: str,
                 known: dict[str, Baseline] | None = None) -> RowScores:
    """Scores of a frame in its own row order (scoring itself runs in time order); `known`:
    warm-ups measured already (`warmup_of`)."""
    parts = list(window_stream(model.network, model.features, [frame], source, policy,
                               baseline=model.baseline_rows, known=known))
    rows = pd.concat(parts)
    scores, shares = model.scorer.score(stacked_errors(rows, len(
        model.features.feature_columns)))
    back = np.argsort(rows["_row"].to_numpy())
    return RowScores(scores[back], shares[back], np.ones(len(frame), dtype=bool))


def check_validation_runs(validation: pd.DataFrame, groups: np.ndarray, spec: Any,
                          source: str) -> None:
    """A run-relative model calibrates on its validation runs (each series' last rows): each
    needs its warm-up plus a window."""
    need = spec.baseline_rows + spec.window
    sizes = pd.Series(groups).value_counts()
    if len(validation) and int(sizes.min()) < need:
        raise InputError(f"{source}: the validation part of a series has {int(sizes.min()):,} "
                         f"rows; a run-relative model (--baseline-rows {spec.baseline_rows:,}) "
                         f"calibrates on runs of at least {need:,} (warm-up + window) — raise "
                         "--val-fraction, lower --baseline-rows, or train on longer series")


def relative_calibration(features: TimeseriesFeatures, network: nn.Module, split: Split,
                         threshold_q: float | None) -> Calibration:
    """A run-relative model's scores on its validation runs, scored as files are (each
    re-based on its warm-up; 1 = the warm-up's peak); threshold 1, or a quantile of them."""
    n = len(features.feature_columns)
    rows = pd.concat(list(window_stream(network, features, [split.validation],
                                        "validation rows", "fail")))
    scorer = Scorer(features.feature_columns, np.ones(n))
    validation = np.sort(scorer.score(stacked_errors(rows, n))[0])
    if threshold_q is not None:
        return Calibration(scorer, validation,
                           choose_threshold("quantile", validation, q=threshold_q),
                           "initial threshold")
    return Calibration(scorer, validation, choose_threshold("manual", validation, value=1.0),
                       "initial threshold: 1 = the peak of each run's own warm-up")
