"""Logs: one score per session (or time window) from its template counts.

Log files are read into sessions (`lines`, `sessions`), each session becomes a row of
weighted template counts (`anomaly.kinds.logs.features`), and from there the row-wise steps of
the tabular kind apply unchanged: dense autoencoder, calibrated per-feature errors, thresholds.

Example:
    >>> from anomaly import Detector
    >>> det = Detector("logs", session_regex=r"blk_-?\\d+", max_epochs=5)  # doctest: +SKIP
    >>> det.fit(["hdfs_normal.log"]).score_frame(det.read(["today.log"]))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from anomaly.config import LogConfig, Settings
from anomaly.core.kind import Explanation, Item, Model, RowScores, Split, paths_of
from anomaly.errors import InputError
from anomaly.kinds import KIND_ITEMS
from anomaly.kinds.logs.features import UNKNOWN_COUNT, DrainConfig, LogFeatures
from anomaly.kinds.logs.lines import BLOCK_BYTES, read_text_lines
from anomaly.kinds.logs.options import LogOptions, log_options
from anomaly.kinds.logs.ranges import (
    LogRanges,
    log_ranges,
    parallel_ranges,
    read_in_processes,
)
from anomaly.kinds.logs.sessions import (
    ITEMS,
    read_sessions,
    sessions_from_events,
    sessions_from_lines,
)
from anomaly.kinds.logs.stream import stream_events, stream_text
from anomaly.kinds.rowwise import RowKind, score_inputs, scored_rows

# Normal sessions score heavy-tailed (rare but normal templates): flag only beyond about one
# normal session in 1,000. Chosen on HDFS by a 2-fold cross-fit (bench/hdfs.py): the rule
# picked on one half of the labelled blocks is judged on the other half.
DEFAULT_QUANTILE = 0.999


def reading_options(settings: Settings) -> LogOptions:
    """How to read logs, from the settings (checked: one way to cut sessions, valid regex…)."""
    c: LogConfig = settings.logs
    return log_options(c.session_regex, c.session_window, c.time_format, c.session_col,
                       c.event_col, c.sequence_col, settings.data.time_col,
                       settings.data.label_col, c.max_line_length)


class LogsKind(RowKind):
    """Autoencoder over per-session template counts of logs (``kind="logs"``)."""

    name = "logs"
    item = KIND_ITEMS["logs"]
    default_latent_weight = 0.0  # measured on HDFS with reconstruction alone
    default_neighbours = 0
    default_quantile = DEFAULT_QUANTILE
    partitionable = False  # sessions span lines: a file is one task (streamed in it)
    rebaselines = False
    file_patterns = ("*.log", "*.log.gz", "*.txt", "*.csv")

    def read(self, data: Any, settings: Settings, source: str,
             features: LogFeatures | None = None, label_col: str | None = None
             ) -> pd.DataFrame:
        """Sessions from log file paths, a frame of sessions, or a CSV table of events."""
        options = features.options if features is not None else reading_options(settings)
        if label_col:  # a session is anomalous when any of its events is labelled 1
            options = replace(options, label_col=label_col)
        paths = paths_of(data)
        if paths is not None:
            frame, _ = read_sessions(paths, options,
                                     features.time_format if features is not None else None)
            return frame
        if not isinstance(data, pd.DataFrame):
            raise InputError("log models take log file paths or a frame of sessions (from "
                             "Detector.read)")
        if ITEMS in data.columns or UNKNOWN_COUNT in data.columns:  # sessions already
            return data
        if options.form == "text":
            raise InputError(f"{source}: this log model reads raw log files — pass the log "
                             "files (not a table) to score them")
        return sessions_from_events(data.astype(str), options, source)

    def fit_features(self, split: Split, settings: Settings, source: str) -> LogFeatures:
        # Templates are learned from every normal session (train + validation) so that the
        # validation sessions hold no unknown template: "unknown" then means "never seen in
        # normal data", which makes it a strong signal. Scaling uses training rows only.
        c = settings.logs
        drain = DrainConfig(sim_th=c.sim_th) if c.sim_th is not None else DrainConfig()
        features = LogFeatures(options=reading_options(settings), weighting=c.weighting,
                               drain=drain, time_format=split.normal.attrs.get("time_format"))
        return features.fit(split.train, source, split.normal)

    def features_from_json(self, raw: dict[str, Any]) -> LogFeatures:
        return LogFeatures.from_json(raw)

    def inputs(self, features: Any, frame: pd.DataFrame, settings: Settings,
               source: str) -> np.ndarray:
        return np.asarray(features.transform(frame))

    def read_file(self, model: Model, path: Path, chunk_rows: int,
                  block_bytes: int) -> Iterator[pd.DataFrame]:
        """The sessions of one log file as they close, counted in bounded memory (`stream`)."""
        features: LogFeatures = model.features
        if features.options.form == "text":
            ranges = parallel_ranges(model, path) if block_bytes >= BLOCK_BYTES else None
            if ranges is not None:
                return read_in_processes(model, ranges)
            return stream_text(path, features, min(block_bytes, BLOCK_BYTES))
        return stream_events(path, features, chunk_rows)

    def byte_ranges(self, model: Model, path: Path, range_bytes: int) -> LogRanges | None:
        """A raw log cut at line ends, counted apart and merged by session (`ranges`)."""
        return log_ranges(model.features, path, range_bytes)

    def csv_numeric(self, model: Model) -> list[str]:
        return []

    def score_stream(self, model: Model, chunks: Iterable[pd.DataFrame], source: str,
                     policy: str, threshold: float, row_offset: int = 0
                     ) -> Iterator[pd.DataFrame]:
        """Scored sessions: key, [file,] first/last line and time, n_lines + score columns.

        Each scored frame's ``attrs`` hold its ``lines`` and ``unknown_lines`` (lines matching
        no training template): the template-drift signal of `anomaly.jobs.score`.
        """
        f: LogFeatures = model.features
        for chunk in chunks:
            sessions = self.read(chunk, model.settings, source, f)
            counts, length, unknown = f.counts_of(sessions)
            scores, shares = score_inputs(model, f.inputs_of(counts, length, unknown))
            out = scored_rows(model, sessions, RowScores(scores, shares,
                                                         np.ones(len(sessions), dtype=bool)),
                              threshold)
            out.attrs.update(lines=int(length.sum()), unknown_lines=int(unknown.sum()))
            yield out

    def row_scores(self, model: Model, frame: pd.DataFrame, source: str,
                   policy: str) -> RowScores:
        sessions = self.read(frame, model.settings, source, model.features)
        scores, shares = score_inputs(model, model.features.transform(sessions))
        return RowScores(scores, shares, np.ones(len(sessions), dtype=bool))

    def explain(self, model: Model, frame: pd.DataFrame, position: int) -> Explanation:
        """One session: per template its count, the reconstruction and its share of the error."""
        f = model.features
        sessions = self.read(frame, model.settings, "input", f).iloc[[position]]
        inputs = f.transform(sessions)
        scores, shares = score_inputs(model, inputs)
        with torch.inference_mode():
            recon = model.network(torch.from_numpy(inputs)).numpy()[0]
        scale, center = np.asarray(f.scale), np.asarray(f.center)
        counts, unknown = f.session_counts(list(sessions[ITEMS].iloc[0]))
        out = pd.DataFrame({"feature": f.feature_columns,
                            "count": [*counts, int(sessions["n_lines"].iloc[0]), unknown],
                            "weighted": inputs[0] * scale + center,
                            "reconstruction": recon * scale + center,
                            "error_share": shares[0]})
        out = out[(out["count"] > 0) | (out["error_share"] >= 0.01)]
        return Explanation(float(scores[0]), out.sort_values("error_share", ascending=False,
                                                             ignore_index=True))

    def find(self, model: Model, path: Path, key: str, group: str | None = None) -> Item:
        """The session `key` of a log file (or CSV of events) with its raw lines."""
        options = model.features.options
        if options.form != "text":
            frame = self.read([path], model.settings, str(path), model.features)
            hit = frame[frame[options.key_name].astype(str) == key]
            items = list(hit[ITEMS].iloc[0]) if len(hit) else []
            return Item(hit, 0, [(i + 1, str(item)) for i, item in enumerate(items)], "events")
        raw: list[tuple[int, str]] = []
        table = read_text_lines(path, options, model.features.time_format,
                                key_filter=lambda k: k == key, raw_out=raw)
        return Item(sessions_from_lines([table], options), 0, raw)

    def schema(self, features: Any, settings: Settings) -> list[dict[str, str]]:
        options = features.options
        schema = [{"name": options.key_name, "role": "id"}]
        schema += [{"name": c, "role": "feature", "dtype": "numeric"}
                   for c in features.feature_columns]
        if options.time_col:
            schema.append({"name": options.time_col, "role": "time"})
        if options.label_col:
            schema.append({"name": options.label_col, "role": "label"})
        return schema

    def metrics(self, model: Model, frame: pd.DataFrame, labels: np.ndarray,
                flags: np.ndarray) -> tuple[dict[str, Any], list[str]]:
        return {}, []

    def summary(self, features: Any, train_x: np.ndarray, val_x: np.ndarray,
                split: Split) -> dict[str, Any]:
        return {"train_rows": len(train_x), "validation_rows": len(val_x),
                "templates": len(features.templates)}
