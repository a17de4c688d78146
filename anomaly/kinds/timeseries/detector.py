"""`TimeseriesDetector`: equipment sensors as sliding windows, one score per timestamp.

Training: rows are put in time order (per group), the last `val_fraction` of each group's rows is
held out for validation (a time split: overlapping windows would leak across a random split), the
sensor scaling is fitted on the training rows, and the network learns to reconstruct windows of
`window` rows taken every `stride` rows.

Scoring slides the window by one row. Each window's squared reconstruction error is computed per
sensor; the error of a timestamp aggregates the windows covering it (`aggregate`):
``point`` — the mean over those windows of the error at that timestamp's own position (default,
chosen on SKAB: fewest false alarms), ``mean`` — the mean over those windows of each window's
mean error (smoother, more recall, more false alarms at segment edges),
``min`` — the smallest window error (a timestamp counts only if every window covering it is bad,
as SKAB's Conv-AE flags points). The per-sensor errors are divided by one pooled scale (their mean
on validation rows) and averaged by `Scorer`, so a score of 1 is a typical normal
timestamp and `top_features` are the sensors with the largest error share. The initial threshold
is 2 × the largest validation score (SKAB's Conv-AE uses a margin over training residuals too);
`anomaly threshold` changes it like for tabular models.

`score_stream` scores a file chunk by chunk and keeps, per group, the last `window - 1` scored
rows as context and the rows whose covering windows are not complete yet; it therefore returns
exactly what scoring the whole file at once returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from anomaly.config import Settings, TrainingConfig, WindowConfig, override, validate
from anomaly.core import thresholds
from anomaly.core.detector import Detector
from anomaly.core.scoring import Scorer, fold_inputs, percentiles, run_network, top_features
from anomaly.errors import InputError
from anomaly.kinds.timeseries.features import (
    TimeseriesFeatures,
    group_codes,
    report_duplicates,
    segment_starts,
    time_order,
    time_values,
    window_index,
)

log = logging.getLogger("anomaly")

WINDOW_PARAMS = tuple(f.name for f in fields(WindowConfig))
WINDOW_BATCH = 8192  # windows per network call while scoring (memory ≈ batch × window × sensors)
CONV_CHANNELS = (32, 16)
THRESHOLD_MARGIN = 2.0  # initial threshold: margin × the largest validation score (bench/skab.py)
LSTM_SIZES = (32, 16)
MIN_STEPS = 10  # optimiser steps per epoch at least (a short normal period gives few windows)
MIN_BATCH = 16


@dataclass
class _Pending:
    """Per-group scoring state between chunks."""

    ctx_x: np.ndarray  # inputs of the last window-1 scored rows (context)
    ctx_t: np.ndarray
    x: np.ndarray  # inputs of rows not scored yet
    t: np.ndarray
    out: pd.DataFrame  # their output columns (with "_row", "_seq")


class TimeseriesDetector(Detector):
    """Autoencoder over sliding windows of sensor readings (``--kind timeseries``).

    Takes every `Detector` argument plus the `WindowConfig` ones: `group_col`, `window`,
    `stride`, `model` (conv | lstm | dense), `max_gap` (seconds; 0 = 3 × the median step) and
    `aggregate` (mean | point | min). `time_col` is required.

    Example:
        >>> t = np.arange(400)
        >>> df = pd.DataFrame({"t": t, "a": np.sin(t / 5), "b": np.cos(t / 5)})
        >>> det = TimeseriesDetector(time_col="t", window=16, max_epochs=2).fit(df)
        >>> len(det.score_frame(df)) == len(df)
        True
    """

    kind_params = WINDOW_PARAMS

    def __init__(self, kind: str = "timeseries", *, group_col: str | None = None,
                 window: int | None = None, stride: int | None = None,
                 model: str | None = None, max_gap: float | None = None,
                 aggregate: str | None = None, **params: Any) -> None:
        super().__init__(kind, **params)
        self.group_col = group_col
        self.window = window
        self.stride = stride
        self.model = model
        self.max_gap = max_gap
        self.aggregate = aggregate

    # --------------------------------------------------------------- settings
    @classmethod
    def from_settings(cls, settings: Settings, **extra: Any) -> TimeseriesDetector:
        """A detector whose arguments mirror `settings`, window section included."""
        window = {f.name: getattr(settings.window, f.name) for f in fields(WindowConfig)}
        det: TimeseriesDetector = super().from_settings(settings, **window, **extra)
        return det

    def settings(self) -> Settings:
        """The effective settings (window section included)."""
        base = super().settings()
        values = {name: getattr(self, name) for name in WINDOW_PARAMS}
        settings = override(base, "window", **values)
        validate(settings)
        return settings

    # ------------------------------------------------------------------ hooks
    def _split(self, frame: pd.DataFrame, settings: Settings
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Time split per group: the last `val_fraction` of each group's rows validates."""
        data, spec = settings.data, settings.window
        if not data.time_col:
            raise InputError("--kind timeseries needs --time-col (the timestamp column)")
        frame = _ordered(frame, "training data", data.time_col, spec.group_col)
        groups = group_codes(frame, spec.group_col, "training data")
        train_idx: list[np.ndarray] = []
        val_idx: list[np.ndarray] = []
        for positions in pd.Series(groups).groupby(groups, sort=False).indices.values():
            idx = np.asarray(positions)
            n_val = max(1, round(settings.training.val_fraction * len(idx)))
            train_idx.append(idx[:len(idx) - n_val])
            val_idx.append(idx[len(idx) - n_val:])
        train = frame.iloc[np.sort(np.concatenate(train_idx))]
        val = frame.iloc[np.sort(np.concatenate(val_idx))]
        if len(train) < spec.window + 8 or len(val) < 2:
            raise InputError(f"training data: {len(frame):,} normal row(s) — a window of "
                             f"{spec.window} rows needs at least {spec.window + 8} training rows "
                             "plus validation rows; add rows or pass a smaller --window")
        self._val_rows = val
        return train, val

    def _fit_features(self, train_rows: pd.DataFrame, settings: Settings,
                      source: str) -> Any:
        return TimeseriesFeatures().fit(train_rows, settings.data, settings.window, source)

    @classmethod
    def _features_from_json(cls, raw: dict[str, Any]) -> Any:
        return TimeseriesFeatures.from_json(raw)

    def _inputs(self, frame: pd.DataFrame, source: str, policy: str,
                row_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Training/validation windows (n × window × inputs) of a time-ordered frame."""
        windows, _ = self.features_.windows(frame, source, policy)
        return windows, np.ones(len(frame), dtype=bool)

    def _network_spec(self, train_x: np.ndarray, settings: Settings
                      ) -> tuple[str, dict[str, Any]]:
        n_channels, window = int(train_x.shape[2]), int(train_x.shape[1])
        m, kind = settings.model, settings.window.model
        if kind == "lstm":
            sizes = m.hidden or LSTM_SIZES
            return "LSTMAutoencoder", {"n_channels": n_channels, "window": window,
                                       "hidden": int(sizes[0]),
                                       "code": int(sizes[-1] if len(sizes) > 1 else sizes[0])}
        if kind == "dense":
            from anomaly.nn.dense import default_hidden

            return "WindowDenseAutoencoder", {
                "n_channels": n_channels, "window": window,
                "hidden": list(m.hidden or default_hidden(n_channels * window)),
                "activation": m.activation, "dropout": m.dropout, "norm": m.norm}
        return "ConvAutoencoder", {"n_channels": n_channels, "window": window,
                                   "channels": list(m.hidden or CONV_CHANNELS), "kernel": 7,
                                   "activation": m.activation, "dropout": m.dropout}

    def _feature_errors(self, inputs: np.ndarray, want_codes: bool
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        """Squared error per window, position and sensor (n × window × sensors)."""
        errors, _ = run_network(self.network_, inputs, want_codes=False, batch=WINDOW_BATCH)
        f = self.features_
        return fold_inputs(errors, f.input_sources, f.feature_columns), None

    def _timestamp_errors(self, inputs: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Per-row, per-sensor error aggregated over the windows covering each row."""
        index = window_index(starts, self.features_.window, 1)
        n_sensors = len(self.features_.feature_columns)
        how = self.features_.aggregate
        total = np.full((len(inputs), n_sensors), np.inf if how == "min" else 0.0)
        count = np.zeros(len(inputs))
        for first in range(0, len(index), WINDOW_BATCH):
            idx = index[first:first + WINDOW_BATCH]
            err = self._feature_errors(inputs[idx], want_codes=False)[0].astype(np.float64)
            per_window = err.mean(axis=1)
            for k in range(idx.shape[1]):  # rows idx[:, k] are distinct: plain fancy indexing
                rows = idx[:, k]
                if how == "point":
                    total[rows] += err[:, k]
                elif how == "min":
                    total[rows] = np.minimum(total[rows], per_window)
                else:
                    total[rows] += per_window
                count[rows] += 1
        if how == "min":
            return total
        result: np.ndarray = total / np.maximum(count, 1)[:, None]
        return result

    def _training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        """Smaller batches when there are few training windows, so every epoch takes at least
        `MIN_STEPS` steps (400 rows in batches of 256 would train 2 steps an epoch; on SKAB's
        400-row fits this lifts F1 from 0.64 to 0.68)."""
        batch = min(cfg.batch_size, max(MIN_BATCH, n_train // MIN_STEPS))
        if batch < cfg.batch_size:
            log.info("%d training windows: batch size %d instead of %d (at least %d steps an "
                     "epoch)", n_train, batch, cfg.batch_size, MIN_STEPS)
            cfg = replace(cfg, batch_size=batch)
        return cfg

    def _calibrate(self, train_x: np.ndarray, val_x: np.ndarray) -> None:
        """Fit the scorer on per-timestamp errors of the validation rows; quantile threshold."""
        val = self._val_rows
        del self._val_rows
        inputs, _, starts = self.features_.rows(val, "validation rows")
        errors = self._timestamp_errors(inputs, starts)
        # One error scale for all sensors (sensors are already standardised): on SKAB it gave
        # fewer false alarms than per-sensor scales, which blow up the drift of quiet sensors.
        pooled = max(float(errors.mean()), 1e-12)
        self.scorer_ = Scorer(self.features_.feature_columns,
                              np.full(errors.shape[1], pooled))
        self.validation_scores_ = np.sort(self.scorer_.score(errors)[0])
        if self.threshold_q is None:
            params: dict[str, Any] = {"q": 1.0, "margin": THRESHOLD_MARGIN}
            value = THRESHOLD_MARGIN * float(self.validation_scores_[-1])
            why = "initial threshold: margin × the largest validation score"
        else:
            choice = thresholds.choose_threshold("quantile", self.validation_scores_,
                                                 q=float(self.threshold_q))
            params, value, why = choice.params, float(choice.value), "initial threshold"
        from anomaly.bundle import now

        entry = {"version": 1, "method": "quantile", "params": params, "value": value,
                 "at": now(), "by": "train", "why": why}
        self.threshold_info_: dict[str, Any] = {**entry, "history": [entry]}
        self.threshold_ = value
        self.offset_ = -self.threshold_

    def fit(self, X: Any, y: Any = None, *, source: str = "input") -> TimeseriesDetector:
        """Train on normal rows; the training summary counts windows."""
        super().fit(X, y, source=source)
        summary = self.training_summary_
        summary["train_windows"] = summary["train_rows"]
        summary["validation_windows"] = summary["validation_rows"]
        summary["window"] = self.features_.window
        return self

    def _schema(self) -> list[dict[str, str]]:
        schema = super()._schema()
        group = self.features_.group_col
        return [{"name": c["name"], "role": "group"} if c["name"] == group else c
                for c in schema]

    # ---------------------------------------------------------------- scoring
    def prepare_frame(self, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
        """The frame in the order scores come out (time order within each group)."""
        check_is_fitted(self, "scorer_")
        f = self.features_
        times = time_values(frame, f.time_col, source)
        order = time_order(times, group_codes(frame, f.group_col, source), source, note=False)
        return frame if order is None else frame.iloc[order]

    def score_stream(self, chunks: Iterable[pd.DataFrame], source: str = "input",
                     on_bad_rows: str | None = None, threshold: float | None = None
                     ) -> Iterator[pd.DataFrame]:
        """Score consecutive chunks of one series; yields scored rows in time order.

        Each chunk must continue the previous one in time (per group). The concatenated
        output equals `score_frame` of the whole file.
        """
        check_is_fitted(self, "scorer_")
        limit = self.threshold_ if threshold is None else float(threshold)
        for frame in self._stream(chunks, source, on_bad_rows):
            yield self._finish(frame, limit)[0].drop(columns=["_row"])

    def _finish(self, frame: pd.DataFrame, limit: float) -> tuple[pd.DataFrame, np.ndarray]:
        """Scores, percentiles, flags and top features of rows with aggregated errors."""
        errors = np.stack(list(frame.pop("_errors"))) if len(frame) else np.zeros(
            (0, len(self.features_.feature_columns)))
        scores, shares = self.scorer_.score(errors)
        out = frame.reset_index(drop=True)
        out["anomaly_score"] = scores
        out["score_percentile"] = percentiles(scores, self.validation_scores_)
        out["is_anomaly"] = scores > limit
        out["top_features"] = top_features(shares, self.features_.feature_columns)
        return out, shares

    def _stream(self, chunks: Iterable[pd.DataFrame], source: str, on_bad_rows: str | None
                ) -> Iterator[pd.DataFrame]:
        """Rows with their aggregated errors, emitted in order once every window is known."""
        f = self.features_
        policy = on_bad_rows or self.settings_.data.on_bad_rows
        state: dict[str, _Pending] = {}
        ready: list[pd.DataFrame] = []
        offset = seq = 0
        last_time: dict[str, float] = {}
        carried = f.carried_columns
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            inputs, times, _ = f.rows(chunk, source, policy, offset)
            groups = group_codes(chunk, f.group_col, source)
            report_duplicates(times, groups, source, chunk[f.time_col])
            order = time_order(times, groups, source)
            order = np.arange(len(chunk)) if order is None else order
            out = chunk.iloc[order][[c for c in carried if c in chunk.columns]].reset_index(
                drop=True)
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
                ready += self._advance(state, g, inputs[idx], times[idx],
                                       out.iloc[idx], final=False)
            offset += len(chunk)
            seq += len(chunk)
            waiting = [int(p.out["_seq"].iloc[0]) for p in state.values() if len(p.out)]
            yield from _emit(ready, min(waiting, default=seq))
        if offset < f.window:
            raise InputError(f"{source}: {offset:,} row(s) — shorter than one window "
                             f"({f.window} rows); score at least {f.window} rows of the series")
        for g, p in state.items():
            ready += self._advance(state, g, p.x[:0], p.t[:0], p.out.iloc[:0], final=True)
        yield from _emit(ready, seq)

    def _advance(self, state: dict[str, _Pending], group: str, x: np.ndarray, t: np.ndarray,
                 out: pd.DataFrame, final: bool) -> list[pd.DataFrame]:
        """Add rows of one group; return the rows whose windows are now all known."""
        w = self.features_.window
        p = state.get(group)
        if p is None:
            p = _Pending(x[:0], t[:0], x[:0], t[:0], out.iloc[:0])
        bx = np.concatenate([p.ctx_x, p.x, x])
        bt = np.concatenate([p.ctx_t, p.t, t])
        pending_out = pd.concat([p.out, out]) if len(p.out) else out
        n, n_ctx = len(bx), len(p.ctx_x)
        starts = segment_starts(bt, np.zeros(n), self.features_.max_gap)
        if final:
            n_done = n - n_ctx
        else:
            # a row is complete when its segment ends inside the block or W-1 rows follow it
            seg_end = [*np.flatnonzero(starts).tolist()[1:], n]
            next_start = np.repeat(seg_end, np.diff([*np.flatnonzero(starts).tolist(), n]))
            done = (next_start < n) | (np.arange(n) <= n - w)
            n_done = int(done[n_ctx:].sum())  # a prefix: completeness is monotone
        result: list[pd.DataFrame] = []
        if n_done:
            # windows covering the complete rows all lie inside the block (see module docstring)
            errors = self._timestamp_errors(bx, starts)
            scored = pending_out.iloc[:n_done].copy()
            scored["_errors"] = list(errors[n_ctx:n_ctx + n_done])
            result.append(scored)
        keep = max(0, n_ctx + n_done - (w - 1))
        state[group] = _Pending(bx[keep:n_ctx + n_done], bt[keep:n_ctx + n_done],
                                bx[n_ctx + n_done:], bt[n_ctx + n_done:],
                                pending_out.iloc[n_done:])
        return result

    def _errors(self, frame: pd.DataFrame, source: str, on_bad_rows: str | None,
                row_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scores and error shares per row, in the input's row order."""
        check_is_fitted(self, "scorer_")
        parts = list(self._stream([frame], source, on_bad_rows))
        scored, shares = self._finish(pd.concat(parts), self.threshold_)
        back = np.argsort(scored["_row"].to_numpy())
        shares = shares[back]
        return (scored["anomaly_score"].to_numpy()[back], shares,
                np.ones(len(frame), dtype=bool), np.zeros((len(frame), 0), dtype=np.float32))

    def score_frame(self, frame: pd.DataFrame, source: str = "input",
                    on_bad_rows: str | None = None, threshold: float | None = None,
                    row_offset: int = 0) -> pd.DataFrame:
        """One scored row per timestamp, in time order (see `prepare_frame`)."""
        parts = list(self.score_stream([frame], source, on_bad_rows, threshold))
        return pd.concat(parts, ignore_index=True)

    def explain_row(self, row: pd.DataFrame) -> pd.DataFrame:
        """The last row of `row` (give at least one window of rows before it): error shares."""
        if len(row) < self.features_.window:
            raise InputError(f"explain_row: give the row with the {self.features_.window - 1} "
                             "rows before it (one window) — a time-series row is judged in "
                             "context")
        _, all_shares = self._finish(pd.concat(list(self._stream([row], "input", None))),
                                     self.threshold_)
        shares = all_shares[-1]
        last = self.prepare_frame(row).iloc[-1]
        return pd.DataFrame({"feature": self.features_.feature_columns,
                             "value": [str(last[c]) for c in self.features_.feature_columns],
                             "error_share": shares}).sort_values("error_share",
                                                                 ascending=False)


def _ordered(frame: pd.DataFrame, source: str, time_col: str, group_col: str | None
             ) -> pd.DataFrame:
    """`frame` in time order within each group (with a note when it had to be sorted)."""
    times = time_values(frame, time_col, source)
    groups = group_codes(frame, group_col, source)
    report_duplicates(times, groups, source, frame[time_col])
    order = time_order(times, groups, source)
    return frame if order is None else frame.iloc[order]


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


def timeseries_metrics(labels: np.ndarray, flags: np.ndarray) -> dict[str, Any]:
    """Point-wise, SKAB (F1/FAR/MAR), point-adjusted and event-wise metrics for flags."""
    from anomaly.core.metrics import event_report, point_adjusted_f1, skab_report

    skab = skab_report(labels, flags)
    events = event_report(labels, flags)
    return {"skab": {"f1": skab.f1, "far": skab.far, "mar": skab.mar},
            "point_adjusted_f1": point_adjusted_f1(labels, flags),
            "events": {"n_events": events.n_events, "detected": events.detected,
                       "recall": events.recall, "mean_delay_rows": events.mean_delay,
                       "median_delay_rows": events.median_delay}}


def print_metrics(metrics: dict[str, Any]) -> str:
    """The time-series metrics of `timeseries_metrics` as indented lines for the CLI."""
    skab, events = metrics["skab"], metrics["events"]
    delay = events["mean_delay_rows"]
    return (f"  time series: SKAB F1 {skab['f1']:.4f}  FAR {skab['far']:.2f}%  "
            f"MAR {skab['mar']:.2f}%\n"
            f"  point-adjusted F1 {metrics['point_adjusted_f1']:.4f}\n"
            f"  events: {events['detected']}/{events['n_events']} detected (recall "
            f"{events['recall']:.2f}), mean delay "
            f"{'n/a' if delay is None else f'{delay:.1f} rows'}")
