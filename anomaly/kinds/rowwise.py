"""Steps shared by the kinds whose items are single rows of features: tables, and log sessions
(a session is a row of template counts). Each item is scored alone by a dense autoencoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import nn

from anomaly.config import Settings, TrainingConfig
from anomaly.core.kind import ByteRanges, Calibration, Model, RowScores, Split
from anomaly.core.neighbours import NeighbourDistance
from anomaly.core.scoring import (
    SCORE_BATCH,
    Scorer,
    fold_inputs,
    run_network,
    scored_frame,
)
from anomaly.core.thresholds import choose_threshold
from anomaly.nn.dense import default_hidden
from anomaly.nn.threads import is_small, one_thread

if TYPE_CHECKING:
    from anomaly.kinds.timeseries.events import EventCollector


class RowKind:
    """The training steps of row-wise kinds; `default_quantile` sets the first threshold."""

    default_quantile: float

    def events(self, model: Model) -> EventCollector | None:
        """Rows and sessions are alarms of their own: no event grouping."""
        return None

    def split(self, frame: pd.DataFrame, settings: Settings) -> Split:
        return random_split(frame, settings)

    def byte_ranges(self, model: Model, path: Path, range_bytes: int) -> ByteRanges | None:
        """Rows are cut by the engine's row partitions (`partitionable`), not merged."""
        return None

    def network_spec(self, train_x: np.ndarray, settings: Settings,
                     features: Any = None) -> tuple[str, dict[str, Any]]:
        return dense_spec(train_x, settings)

    def training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        return cfg

    def calibrate(self, features: Any, network: nn.Module, split: Split, train_x: np.ndarray,
                  val_x: np.ndarray, latent_weight: float, threshold_q: float | None,
                  neighbours: int = 0, seed: int = 0) -> Calibration:
        quantile = self.default_quantile if threshold_q is None else threshold_q
        return calibrate_rows(features, network, train_x, val_x, latent_weight, quantile,
                              neighbours, seed)


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


@dataclass(frozen=True)
class NetworkOutput:
    """What the network says about rows: per-feature squared errors, codes, signed residuals."""

    errors: np.ndarray
    codes: np.ndarray | None = None
    residuals: np.ndarray | None = None


def network_output(network: nn.Module, features: Any, inputs: np.ndarray, want_codes: bool,
                   want_residuals: bool = False) -> NetworkOutput:
    """Squared reconstruction error per row and user feature (+ codes and residuals if asked)."""
    values, codes = run_network(network, inputs, want_codes=want_codes or want_residuals,
                                signed=want_residuals)
    errors = np.square(values) if want_residuals else values
    return NetworkOutput(fold_inputs(errors, features.input_sources, features.feature_columns),
                         codes, values if want_residuals else None)


def calibrate_rows(features: Any, network: nn.Module, train_x: np.ndarray, val_x: np.ndarray,
                   latent_weight: float, quantile: float, neighbours: int = 0,
                   seed: int = 0) -> Calibration:
    """Fit the scorer on validation rows; the initial threshold is a quantile of their scores.

    `neighbours` > 0 scores by the mean distance to that many nearest training rows in the
    autoencoder's coordinates (`NeighbourDistance`; reference rows sampled with `seed`).
    """
    wants_codes, wants_residuals = latent_weight > 0 or neighbours > 0, neighbours > 0
    val = network_output(network, features, val_x, wants_codes, wants_residuals)
    train = (network_output(network, features, train_x, True, wants_residuals)
             if wants_codes else None)
    near = None
    if neighbours > 0 and train is not None and train.codes is not None \
            and train.residuals is not None and val.residuals is not None:
        # category indices (embedded categoricals) are no coordinates: inputs only when one-hot
        inputs = None if getattr(features, "embedded", False) else train_x
        near = NeighbourDistance.fit(train.codes, train.residuals, val.residuals, neighbours,
                                     seed, train_inputs=inputs, density=True)
    scorer = Scorer.fit(features.feature_columns, val.errors,
                        train.codes if train is not None else None, val.codes, latent_weight,
                        near, val.residuals, val_x)
    validation = np.sort(scorer.score(val.errors, val.codes, val.residuals, val_x)[0])
    return Calibration(scorer, validation, choose_threshold("quantile", validation, q=quantile),
                       "initial threshold")


def score_inputs(model: Model, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and error shares of network inputs, one per row."""
    with one_thread(is_small(model.network, min(SCORE_BATCH, len(inputs)))):
        out = network_output(model.network, model.features, inputs, model.scorer.uses_codes,
                             model.scorer.uses_residuals)
        return model.scorer.score(out.errors, out.codes, out.residuals, inputs)


def scored_rows(model: Model, frame: pd.DataFrame, rows: RowScores,
                threshold: float) -> pd.DataFrame:
    """The scored output of row-wise kinds: carried columns of the kept rows + score columns."""
    carried = [c for c in model.features.carried_columns if c in frame.columns]
    return scored_frame(frame.loc[rows.keep, carried], rows.scores, rows.shares,
                        model.validation_scores, model.features.feature_columns, threshold)
