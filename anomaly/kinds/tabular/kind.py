"""Tabular data (transactions, any table): one score per row from a dense autoencoder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from anomaly.config import Settings, TrainingConfig, batch_for_steps
from anomaly.core.kind import Explanation, Item, Model, RowScores, Split, paths_of, source_of
from anomaly.core.scoring import SCORE_BATCH
from anomaly.errors import InputError
from anomaly.io import read_table
from anomaly.kinds import KIND_ITEMS
from anomaly.kinds.rowwise import RowKind, dense_spec, score_inputs, scored_rows
from anomaly.kinds.tabular.features import UNKNOWN, TabularFeatures
from anomaly.kinds.tabular.reading import numeric_columns, read_rows
from anomaly.nn.dense import default_hidden
from anomaly.nn.mixed import embedding_width
from anomaly.nn.threads import is_small, one_thread, ordered_map, scoring_workers

DEFAULT_QUANTILE = 0.995  # initial threshold: this quantile of validation scores
PIECE_ROWS = 32_768  # a frame over twice this is scored in pieces of this many rows, in parallel
# The score: distance to the 5 nearest training rows in the autoencoder's coordinates (code,
# residuals, inputs; the blocks weighted equally, `neighbours.BALANCED_BLOCKS`), relative to
# those rows' own spread; no latent Mahalanobis term; small tables train with smaller batches (at
# least MIN_STEPS steps an epoch). bench/tabular_accuracy.py chose all three by
# leave-one-table-out on 17 ODDS tables (15 of 17 folds pick this, the other two the same score
# with 10 or 100 steps): mean ROC/PR-AUC 0.904/0.754 cross-validated, against 5-NN's
# 0.897/0.738 and 0.840/0.633 for the old default (reconstruction + 2 × latent).
DEFAULT_LATENT_WEIGHT = 0.0
DEFAULT_NEIGHBOURS = 5
MIN_STEPS = 30  # optimiser steps an epoch at least (the batch shrinks, to 16 at the least)
# `categorical="embed"` (opt-in): share of category inputs hidden behind the unknown bucket in
# training (MixedAutoencoder). Chosen among {0, 0.15} × {network sized from the embedded or the
# one-hot width} on two fresh draws of the transactions generator (bench/tabular_mixed.py). One-hot
# stays the default: it scores higher on the bundled sample (PR-AUC 0.937 vs 0.915, 3 seeds) and
# on both draws (0.927 vs 0.909, 0.932 vs 0.907), and trains faster.
CATEGORY_DROPOUT = 0.15


class TabularKind(RowKind):
    """Rows of a table: numeric columns scaled, categories one-hot (or embedded, with
    `categorical="embed"`), each row scored alone.

    Example:
        >>> from anomaly import Detector
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame(rng.normal(size=(300, 3)), columns=list("abc"))
        >>> det = Detector(max_epochs=2).fit(df)
        >>> det.explain_item(df, 0).table.columns.tolist()
        ['feature', 'value', 'reconstruction', 'error_share']
    """

    name = "tabular"
    item = KIND_ITEMS["tabular"]
    default_latent_weight = DEFAULT_LATENT_WEIGHT
    default_neighbours = DEFAULT_NEIGHBOURS
    default_quantile = DEFAULT_QUANTILE
    partitionable = True
    rebaselines = False
    file_patterns = ("*.csv", "*.parquet", "*.pq")

    def read(self, data: Any, settings: Settings, source: str,
             features: Any | None = None, label_col: str | None = None) -> pd.DataFrame:
        return read_tables(data)

    def network_spec(self, train_x: np.ndarray, settings: Settings,
                     features: Any = None) -> tuple[str, dict[str, Any]]:
        """A `DenseAutoencoder`, or with embedded categories a `MixedAutoencoder`."""
        if features is None or not features.embedded or not features.categorical:
            return dense_spec(train_x, settings)
        classes = [len(c.categories) + 1 for c in features.categorical]
        embed = [embedding_width(c) for c in classes]
        m = settings.model
        return "MixedAutoencoder", {
            "n_dense": features.n_dense, "cardinalities": classes,
            "missing_of": features.missing_of(), "embed": embed,
            "hidden": list(m.hidden or default_hidden(features.n_dense + sum(embed))),
            "activation": m.activation, "dropout": m.dropout, "norm": m.norm,
            "residual": m.residual, "category_dropout": CATEGORY_DROPOUT}

    def training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        """Smaller batches for small tables (78 rows in batches of 256 train one step an
        epoch); chosen with the score by leave-one-table-out (bench/tabular_accuracy.py)."""
        return batch_for_steps(cfg, n_train, MIN_STEPS)

    def fit_features(self, split: Split, settings: Settings, source: str) -> TabularFeatures:
        return TabularFeatures().fit(split.train, settings.data, source)

    def features_from_json(self, raw: dict[str, Any]) -> TabularFeatures:
        return TabularFeatures.from_json(raw)

    def inputs(self, features: Any, frame: pd.DataFrame, settings: Settings,
               source: str) -> np.ndarray:
        inputs, _ = features.transform(frame, source, settings.data.on_bad_rows)
        return np.asarray(inputs)

    def read_file(self, model: Model, path: Path, chunk_rows: int,
                  block_bytes: int) -> Iterator[pd.DataFrame]:
        return read_rows(model.features, model.settings, path, chunk_rows, block_bytes)

    def csv_numeric(self, model: Model) -> list[str]:
        """Numeric feature columns: parsed as float64 straight from CSV."""
        return numeric_columns(model.features)

    def score_stream(self, model: Model, chunks: Iterable[pd.DataFrame], source: str,
                     policy: str, threshold: float, row_offset: int = 0
                     ) -> Iterator[pd.DataFrame]:
        workers = scoring_workers()

        def numbered() -> Iterator[tuple[pd.DataFrame, int]]:
            offset = row_offset
            for chunk in chunks:
                # a large frame (`score_frame`) in pieces, so that the threads share it too; the
                # pieces keep the frame's index, by which bad rows are reported
                step = PIECE_ROWS if workers > 1 and len(chunk) > 2 * PIECE_ROWS else len(chunk)
                for start in range(0, len(chunk), max(step, 1)):
                    yield chunk.iloc[start:start + step], offset
                offset += len(chunk)

        def scored(item: tuple[pd.DataFrame, int]) -> pd.DataFrame:
            chunk, offset = item
            return scored_rows(model, chunk, self._scores(model, chunk, source, policy, offset),
                               threshold)

        # chunks are scored on several threads (torch and numpy release the GIL), one torch
        # thread each; in this thread the settings it leaves are restored at the end
        with one_thread(workers > 1 and is_small(model.network, SCORE_BATCH)):
            yield from ordered_map(scored, numbered(), workers)

    def row_scores(self, model: Model, frame: pd.DataFrame, source: str,
                   policy: str) -> RowScores:
        return self._scores(model, frame, source, policy, 0)

    def _scores(self, model: Model, frame: pd.DataFrame, source: str, policy: str,
                row_offset: int) -> RowScores:
        inputs, keep = model.features.transform(frame, source, policy, row_offset)
        scores, shares = score_inputs(model, inputs)
        return RowScores(scores, shares, keep)

    def explain(self, model: Model, frame: pd.DataFrame, position: int) -> Explanation:
        """One row: per feature its value, the reconstruction (original units) and error share."""
        f = model.features
        inputs, _ = f.transform(frame.iloc[[position]], source_of(frame), "fail")
        scores, shares = score_inputs(model, inputs)
        with torch.inference_mode():
            recon = model.network(torch.from_numpy(inputs)).numpy()[0]
        names = f.input_names
        records = []
        for j, feature in enumerate(f.feature_columns):
            idx = [i for i, s in enumerate(f.input_sources) if s == feature]
            value, rebuilt = describe_input(f, feature, inputs[0, idx], recon[idx],
                                            [names[i] for i in idx])
            if value == UNKNOWN:  # a category training never saw: show it as written
                value = f"{frame.iloc[position][feature]} (not seen in training)"
            records.append({"feature": feature, "value": value, "reconstruction": rebuilt,
                            "error_share": float(shares[0, j])})
        return Explanation(float(scores[0]), pd.DataFrame(records).sort_values(
            "error_share", ascending=False, ignore_index=True))

    def find(self, model: Model, path: Path, key: str, group: str | None = None) -> Item:
        """The row whose first id column is `key`, or row number `key` (from 1) without ids."""
        frame = read_table(path)
        frame.attrs["source"] = str(path)
        return Item(frame, find_row(frame, model.settings.data.id_col[:1], key, str(path)), [])

    def schema(self, features: Any, settings: Settings) -> list[dict[str, str]]:
        return column_schema(features, settings)

    def metrics(self, model: Model, frame: pd.DataFrame, labels: np.ndarray,
                flags: np.ndarray) -> tuple[dict[str, Any], list[str]]:
        return {}, []  # the shared binary report says it all for independent rows

    def summary(self, features: Any, train_x: np.ndarray, val_x: np.ndarray,
                split: Split) -> dict[str, Any]:
        return {"train_rows": len(train_x), "validation_rows": len(val_x)}


def read_tables(data: Any) -> pd.DataFrame:
    """A frame as it is, or CSV/Parquet file(s) read into one frame (same columns each)."""
    if isinstance(data, pd.DataFrame):
        return data
    paths = paths_of(data)
    if paths is None:
        raise TypeError("give a DataFrame or CSV/Parquet file path(s) (the Detector converts "
                        "arrays)")
    frames = [read_table(path) for path in paths]
    for path, frame in zip(paths[1:], frames[1:], strict=True):
        if list(frame.columns) != list(frames[0].columns):
            raise InputError(f"{path}: its columns differ from {paths[0]}'s — training files "
                             "must have the same columns in the same order")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def find_row(frame: pd.DataFrame, columns: tuple[str, ...], key: str, source: str) -> int:
    """Position of the first row whose `columns[0]` reads `key`; without a column, `key` is a
    row number counted from 1."""
    if columns:
        column = columns[0]
        if column not in frame.columns:
            raise InputError(f"{source}: no column {column!r} — choose the file the model "
                             "scores")
        values = frame[column]
        hits = np.flatnonzero(values.astype(str).to_numpy() == key)
        if not len(hits) and pd.api.types.is_numeric_dtype(values):
            number = pd.to_numeric(pd.Series([key]), errors="coerce").iloc[0]
            hits = np.flatnonzero(values.to_numpy() == number)  # "1005" finds 1005.0
        if not len(hits):
            raise InputError(f"{source}: no row with {column}={key} — keys are in the "
                             f"{column!r} column of the scored output")
        return int(hits[0])
    if not key.strip().isdigit() or not 1 <= int(key) <= len(frame):
        raise InputError(f"{source}: {key!r} is not a row number between 1 and "
                         f"{len(frame):,} — the model has no id column, so give a row number")
    return int(key) - 1


def column_schema(features: TabularFeatures, settings: Settings,
                  group_col: str | None = None) -> list[dict[str, str]]:
    """Each column with its role (and dtype for features); `group_col` gets the role group."""
    numeric = {c.name for c in features.numeric}
    schema = [{"name": c, "role": "feature",
               "dtype": "numeric" if c in numeric else "categorical"}
              for c in features.feature_columns]
    s = settings.data
    for role, cols in (("id", s.id_col), ("time", (s.time_col,)), ("label", (s.label_col,))):
        schema += [{"name": c, "role": role} for c in cols if c]
    schema = [{"name": c["name"], "role": "group"} if c["name"] == group_col else c
              for c in schema]
    if group_col and all(c["name"] != group_col for c in schema):
        schema.append({"name": group_col, "role": "group"})
    return schema


def describe_input(features: TabularFeatures, feature: str, x: np.ndarray, recon: np.ndarray,
                   names: list[str]) -> tuple[str, str]:
    """Human-readable value and reconstruction of one feature (original units / category)."""
    for num in features.numeric:
        if num.name == feature:
            value = x[0] * num.scale + num.center
            rebuilt = recon[0] * num.scale + num.center
            missing = len(x) > 1 and x[1] > 0.5
            return ("missing" if missing else f"{value:.6g}"), f"{rebuilt:.6g}"
    if features.embedded:  # one input: the category's index
        column = next(c for c in features.categorical if c.name == feature)
        labels = features.labels(column)
        return labels[round(float(x[0]))], labels[round(float(recon[0]))]
    labels = [n.split("=", 1)[1] for n in names]
    return labels[int(np.argmax(x))], labels[int(np.argmax(recon))]
