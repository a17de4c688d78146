"""Tabular data (transactions, any table): one score per row from a dense autoencoder.

The row-wise steps here (dense network, calibration on validation rows, scoring rows) serve the
logs kind too: a session of log lines is a row of template counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from anomaly.config import Settings, TrainingConfig
from anomaly.core.kind import (
    Calibration,
    Explanation,
    Item,
    Model,
    RowScores,
    Split,
    paths_of,
)
from anomaly.core.scoring import Scorer, fold_inputs, run_network, scored_frame
from anomaly.core.thresholds import choose_threshold
from anomaly.errors import InputError
from anomaly.io import iter_table, read_table
from anomaly.kinds.tabular.features import TabularFeatures
from anomaly.nn.dense import default_hidden

DEFAULT_QUANTILE = 0.995  # initial threshold: this quantile of validation scores
DEFAULT_LATENT_WEIGHT = 2.0  # bench/tabular_accuracy.py: the latent distance pays on tables


# ----------------------------------------------------------- row-wise steps (tabular, logs)
def random_split(frame: pd.DataFrame, settings: Settings) -> Split:
    """Seeded random train/validation split of the normal rows."""
    order = np.random.default_rng(settings.training.seed).permutation(len(frame))
    n_val = max(2, round(settings.training.val_fraction * len(frame)))
    return Split(frame.iloc[order[n_val:]], frame.iloc[order[:n_val]], frame)


def dense_spec(train_x: np.ndarray, settings: Settings) -> tuple[str, dict[str, Any]]:
    """A `DenseAutoencoder` sized from the number of inputs unless `hidden` is given."""
    n_inputs = int(train_x.shape[1])
    m = settings.model
    return "DenseAutoencoder", {
        "n_inputs": n_inputs, "hidden": list(m.hidden or default_hidden(n_inputs)),
        "activation": m.activation, "dropout": m.dropout, "norm": m.norm,
        "residual": m.residual}


def feature_errors(network: nn.Module, features: Any, inputs: np.ndarray, want_codes: bool
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Squared reconstruction error per row and user feature (+ the codes when asked)."""
    errors, codes = run_network(network, inputs, want_codes=want_codes)
    return fold_inputs(errors, features.input_sources, features.feature_columns), codes


def calibrate_rows(features: Any, network: nn.Module, train_x: np.ndarray, val_x: np.ndarray,
                   latent_weight: float, quantile: float) -> Calibration:
    """Fit the scorer on validation rows; the initial threshold is a quantile of their scores."""
    val_err, val_codes = feature_errors(network, features, val_x, want_codes=latent_weight > 0)
    train_codes = (feature_errors(network, features, train_x, want_codes=True)[1]
                   if latent_weight > 0 else None)
    scorer = Scorer.fit(features.feature_columns, val_err, train_codes, val_codes, latent_weight)
    validation = np.sort(scorer.score(val_err, val_codes)[0])
    return Calibration(scorer, validation, choose_threshold("quantile", validation, q=quantile),
                       "initial threshold")


def score_inputs(model: Model, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and error shares of network inputs, one per row."""
    errors, codes = feature_errors(model.network, model.features, inputs,
                                   want_codes=model.scorer.uses_codes)
    return model.scorer.score(errors, codes)


def scored_rows(model: Model, frame: pd.DataFrame, rows: RowScores,
                threshold: float) -> pd.DataFrame:
    """The scored output of row-wise kinds: carried columns of the kept rows + score columns."""
    carried = [c for c in model.features.carried_columns if c in frame.columns]
    return scored_frame(frame.loc[rows.keep, carried], rows.scores, rows.shares,
                        model.validation_scores, model.features.feature_columns, threshold)


class TabularKind:
    """Rows of a table: numeric columns scaled, categories one-hot, each row scored alone.

    Example:
        >>> from anomaly import Detector
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame(rng.normal(size=(300, 3)), columns=list("abc"))
        >>> det = Detector(max_epochs=2).fit(df)
        >>> det.explain_item(df, 0).columns.tolist()
        ['feature', 'value', 'reconstruction', 'error_share']
    """

    name = "tabular"
    item = "row"
    default_latent_weight = DEFAULT_LATENT_WEIGHT
    partitionable = True

    def read(self, data: Any, settings: Settings, source: str,
             features: Any | None = None) -> pd.DataFrame:
        return read_tables(data)

    def split(self, frame: pd.DataFrame, settings: Settings) -> Split:
        return random_split(frame, settings)

    def fit_features(self, split: Split, settings: Settings, source: str) -> TabularFeatures:
        return TabularFeatures().fit(split.train, settings.data, source)

    def features_from_json(self, raw: dict[str, Any]) -> TabularFeatures:
        return TabularFeatures.from_json(raw)

    def inputs(self, features: Any, frame: pd.DataFrame, settings: Settings,
               source: str) -> np.ndarray:
        inputs, _ = features.transform(frame, source, settings.data.on_bad_rows)
        return np.asarray(inputs)

    def network_spec(self, train_x: np.ndarray, settings: Settings) -> tuple[str, dict[str, Any]]:
        return dense_spec(train_x, settings)

    def training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        return cfg

    def calibrate(self, features: Any, network: nn.Module, split: Split, train_x: np.ndarray,
                  val_x: np.ndarray, latent_weight: float, threshold_q: float | None
                  ) -> Calibration:
        quantile = DEFAULT_QUANTILE if threshold_q is None else threshold_q
        return calibrate_rows(features, network, train_x, val_x, latent_weight, quantile)

    def read_file(self, model: Model, path: Path, chunk_rows: int,
                  block_bytes: int) -> Iterator[pd.DataFrame]:
        return iter_table(path, chunk_rows, self.csv_numeric(model), block_bytes)

    def csv_numeric(self, model: Model) -> list[str]:
        """Numeric feature columns: parsed as float64 straight from CSV."""
        return [str(c.name) for c in model.features.numeric]

    def score_stream(self, model: Model, chunks: Iterable[pd.DataFrame], source: str,
                     policy: str, threshold: float, row_offset: int = 0
                     ) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            if not len(chunk):
                continue
            rows = self._scores(model, chunk, source, policy, row_offset)
            yield scored_rows(model, chunk, rows, threshold)
            row_offset += len(chunk)

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
        inputs, _ = f.transform(frame.iloc[[position]], "input", "fail")
        scores, shares = score_inputs(model, inputs)
        with torch.inference_mode():
            recon = model.network(torch.from_numpy(inputs)).numpy()[0]
        names = f.input_names
        records = []
        for j, feature in enumerate(f.feature_columns):
            idx = [i for i, s in enumerate(f.input_sources) if s == feature]
            value, rebuilt = describe_input(f, feature, inputs[0, idx], recon[idx],
                                            [names[i] for i in idx])
            records.append({"feature": feature, "value": value, "reconstruction": rebuilt,
                            "error_share": float(shares[0, j])})
        return Explanation(float(scores[0]), pd.DataFrame(records).sort_values(
            "error_share", ascending=False, ignore_index=True))

    def find(self, model: Model, path: Path, key: str) -> Item:
        """The row whose first id column is `key`, or row number `key` (from 1) without ids."""
        frame = read_table(path)
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
        hits = np.flatnonzero(frame[column].astype(str).to_numpy() == key)
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
    return [{"name": c["name"], "role": "group"} if c["name"] == group_col else c
            for c in schema]


def describe_input(features: TabularFeatures, feature: str, x: np.ndarray, recon: np.ndarray,
                   names: list[str]) -> tuple[str, str]:
    """Human-readable value and reconstruction of one feature (original units / category)."""
    for num in features.numeric:
        if num.name == feature:
            value = x[0] * num.scale + num.center
            rebuilt = recon[0] * num.scale + num.center
            missing = len(x) > 1 and x[1] > 0.5
            return ("missing" if missing else f"{value:.6g}"), f"{rebuilt:.6g}"
    labels = [n.split("=", 1)[1] for n in names]
    return labels[int(np.argmax(x))], labels[int(np.argmax(recon))]
