"""Steps shared by the kinds whose items are single rows of features: tables, and log sessions
(a session is a row of template counts). Each item is scored alone by a dense autoencoder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import nn

from anomaly.config import Settings, TrainingConfig
from anomaly.core.kind import Calibration, Model, RowScores, Split
from anomaly.core.scoring import SCORE_BATCH, Scorer, fold_inputs, run_network, scored_frame
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

    def network_spec(self, train_x: np.ndarray, settings: Settings) -> tuple[str, dict[str, Any]]:
        return dense_spec(train_x, settings)

    def training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        return cfg

    def calibrate(self, features: Any, network: nn.Module, split: Split, train_x: np.ndarray,
                  val_x: np.ndarray, latent_weight: float, threshold_q: float | None
                  ) -> Calibration:
        quantile = self.default_quantile if threshold_q is None else threshold_q
        return calibrate_rows(features, network, train_x, val_x, latent_weight, quantile)


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
    with one_thread(is_small(model.network, min(SCORE_BATCH, len(inputs)))):
        errors, codes = feature_errors(model.network, model.features, inputs,
                                       want_codes=model.scorer.uses_codes)
        return model.scorer.score(errors, codes)


def scored_rows(model: Model, frame: pd.DataFrame, rows: RowScores,
                threshold: float) -> pd.DataFrame:
    """The scored output of row-wise kinds: carried columns of the kept rows + score columns."""
    carried = [c for c in model.features.carried_columns if c in frame.columns]
    return scored_frame(frame.loc[rows.keep, carried], rows.scores, rows.shares,
                        model.validation_scores, model.features.feature_columns, threshold)
