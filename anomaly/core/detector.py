"""`Detector`: the one facade over every data kind — training, scoring, explaining, thresholds.

It composes a `Kind` (tabular, timeseries, logs) with what every kind shares, and follows
scikit-learn's outlier contract: `fit` returns self, `score_samples` is higher for more normal
rows, `decision_function` is negative for outliers and `predict` returns +1 / -1.

Example:
    >>> import pandas as pd, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    >>> det = Detector(max_epochs=3).fit(df)
    >>> det.score_frame(df.head(2)).columns.tolist()
    ['anomaly_score', 'score_percentile', 'is_anomaly', 'top_features']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from anomaly.config import Settings
from anomaly.core import persist
from anomaly.core.kind import Explanation, Item, Kind, Model, RowScores, paths_of, rebased
from anomaly.core.labels import check_labels
from anomaly.core.params import params_from_settings, settings_from_params
from anomaly.core.thresholds import ThresholdChoice, check_threshold, record
from anomaly.errors import ConfigError, InputError
from anomaly.io import CHUNK_ROWS, CSV_BLOCK_BYTES
from anomaly.kinds import get_kind
from anomaly.nn import build_network

log = logging.getLogger("anomaly")

MIN_TRAIN_ROWS = 10


class Detector(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Autoencoder anomaly detector for one data kind. Arguments left None take the defaults.

    Args:
        kind: "tabular" (rows), "timeseries" (sliding windows; needs `time_col`) or "logs"
            (sessions of log lines; needs `session_regex`, `session_window` or CSV columns).
        hidden, activation, dropout, norm, residual: network options (`ModelConfig`).
        optimizer, lr, momentum, weight_decay, l1, noise, schedule, gradient_clip, batch_size,
            max_epochs, min_epochs, patience, val_fraction, seed, accelerator, devices,
            strategy, num_nodes, progress_bar, logger (none|csv|tensorboard|mlflow),
            logger_dir: training options (`TrainingConfig`).
        id_col, time_col, label_col, column_types, on_bad_rows, max_categories: data options.
        categorical: "onehot" (default) or "embed" — tabular categorical columns embedded on
            the way in and predicted by a softmax (cross-entropy) on the way out.
        group_col, window (rows), stride, model (conv|lstm|dense), max_gap, aggregate,
            score_stride (scoring: a window every N rows), baseline_rows and run_rows (a
            run-relative model: every run judged against its own first rows): time series
            options (`WindowConfig`).
        session_regex, session_window (e.g. "5m"), time_format, session_col, event_col,
            sequence_col, weighting, max_line_length, sim_th: log options (`LogConfig`).
        latent_weight: weight of the latent-space distance in the score (0 = reconstruction
            only; default per kind).
        neighbours: k of the neighbour distance: score by the mean distance to the k nearest
            training rows in the autoencoder's coordinates (0 = off; default per kind).
        threshold_q: quantile of validation scores for the initial threshold (default per kind).
    """

    def __init__(self, kind: str = "tabular", *, hidden: tuple[int, ...] | None = None,
                 activation: str | None = None, dropout: float | None = None,
                 norm: str | None = None, residual: bool | None = None,
                 optimizer: str | None = None, lr: float | None = None,
                 momentum: float | None = None, weight_decay: float | None = None,
                 l1: float | None = None, noise: float | None = None,
                 schedule: str | None = None, gradient_clip: float | None = None,
                 batch_size: int | None = None, max_epochs: int | None = None,
                 min_epochs: int | None = None, patience: int | None = None,
                 val_fraction: float | None = None, seed: int | None = None,
                 accelerator: str | None = None, devices: str | None = None,
                 strategy: str | None = None, num_nodes: int | None = None,
                 progress_bar: bool | None = False, logger: str | None = None,
                 logger_dir: str | None = None,
                 id_col: tuple[str, ...] | str | None = None, time_col: str | None = None,
                 label_col: str | None = None, column_types: dict[str, str] | None = None,
                 on_bad_rows: str | None = None, max_categories: int | None = None,
                 categorical: str | None = None,
                 group_col: str | None = None, window: int | None = None,
                 stride: int | None = None, model: str | None = None,
                 max_gap: float | None = None, aggregate: str | None = None,
                 score_stride: int | None = None, baseline_rows: int | None = None,
                 run_rows: int | None = None,
                 session_regex: str | None = None, session_window: str | None = None,
                 time_format: str | None = None, session_col: str | None = None,
                 event_col: str | None = None, sequence_col: str | None = None,
                 weighting: str | None = None, max_line_length: int | None = None,
                 sim_th: float | None = None,
                 latent_weight: float | None = None, neighbours: int | None = None,
                 threshold_q: float | None = None) -> None:
        arguments = dict(locals())
        for name in self._get_param_names():  # scikit-learn: store every argument unchanged
            setattr(self, name, arguments[name])

    # --------------------------------------------------------------- settings
    @classmethod
    def from_settings(cls, settings: Settings, **extra: Any) -> Detector:
        """A detector whose arguments mirror `settings` (config file + CLI flags)."""
        return cls(kind=settings.kind, **params_from_settings(settings), **extra)

    def settings(self) -> Settings:
        """The effective settings: defaults overridden by every argument that is not None."""
        return settings_from_params(self.get_params())

    @property
    def kind_(self) -> Kind:
        """The implementation of this detector's data kind."""
        return get_kind(self.kind)

    @property
    def model_(self) -> Model:
        """What the fitted detector knows, as handed to its kind."""
        check_is_fitted(self, "scorer_")
        return Model(self.settings_, self.features_, self.network_, self.scorer_,
                     self.validation_scores_, getattr(self.features_, "baseline_rows", None))

    # ------------------------------------------------------------------ input
    def read(self, data: Any, source: str = "input", label_col: str | None = None
             ) -> pd.DataFrame:
        """Data as the kind works on it: a frame, or log files read into sessions; with
        `label_col`, that column is kept as one label per item."""
        fitted = getattr(self, "features_", None)
        settings = getattr(self, "settings_", None) or self.settings()
        return self.kind_.read(data, settings, source, fitted, label_col)

    def _frame(self, X: Any, reset: bool) -> Any:
        """Arrays go through scikit-learn's checks; frames and file paths pass through."""
        if isinstance(X, pd.DataFrame):
            if reset:
                self.n_features_in_ = X.shape[1]
            return X
        if paths_of(X) is not None:
            return X
        array = validate_data(self, X, reset=reset, dtype=np.float64,
                              ensure_all_finite="allow-nan", ensure_min_samples=1)
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])

    def _normal_rows(self, frame: pd.DataFrame, settings: Settings,
                     source: str) -> pd.DataFrame:
        """The rows to learn from: rows labelled 1 in `label_col` are left out."""
        label = settings.data.label_col
        if label and label in frame.columns:
            labels = check_labels(frame[label], label, source)
            if labels.any():
                log.warning("%s: %d row(s) labelled anomalous in %r left out of training",
                            source, int(labels.sum()), label)
            frame = frame.loc[~labels]
        if len(frame) < MIN_TRAIN_ROWS:
            raise InputError(f"{source}: {len(frame)} normal row(s) — training needs at least "
                             f"{MIN_TRAIN_ROWS} (more is better: thousands) — add rows")
        return frame

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, *, source: str = "input") -> Detector:
        """Train on normal data (a frame, an array, or log file paths for logs)."""
        settings = self.settings()
        kind = get_kind(settings.kind)
        k = kind.default_neighbours if self.neighbours is None else int(self.neighbours)
        if k < 0:
            raise ConfigError(f"neighbours must be >= 0 (got {k}); 0 turns the neighbour "
                              "distance off")
        for name in ("features_", "scorer_"):  # a refit that fails leaves no half-old model
            self.__dict__.pop(name, None)
        frame = self._normal_rows(kind.read(self._frame(X, reset=True), settings, source),
                                  settings, source)
        frame = frame.copy(deep=False)  # the caller's frame keeps its attrs
        frame.attrs["source"] = source  # for the kind's messages about its split
        split = kind.split(frame, settings)
        features = kind.fit_features(split, settings, source)
        train_x = kind.inputs(features, split.train, settings, source)
        val_x = kind.inputs(features, split.validation, settings, source)
        if len(train_x) < MIN_TRAIN_ROWS - 2 or len(val_x) < 2:
            raise InputError(f"{source}: too few usable rows after skipping bad ones "
                             f"({len(train_x)} train, {len(val_x)} validation) — fix the data")
        class_name, args = kind.network_spec(train_x, settings, features)
        torch.manual_seed(settings.training.seed)  # the initial weights are part of a run
        from anomaly.training import train_autoencoder  # Lightning: import only to train

        run_cfg = kind.training_config(settings.training, len(train_x))
        result = train_autoencoder(build_network(class_name, args), torch.from_numpy(train_x),
                                   torch.from_numpy(val_x), run_cfg)
        for note in result.notes:
            log.warning("%s: %s", source, note)
        weight = kind.default_latent_weight if self.latent_weight is None else float(
            self.latent_weight)
        calibration = kind.calibrate(features, result.network, split, train_x, val_x, weight,
                                     None if self.threshold_q is None else float(self.threshold_q),
                                     k, settings.training.seed)
        self.settings_, self.features_, self.network_ = settings, features, result.network
        self.architecture_ = {"class": class_name, "args": args}
        self.history_, self.is_global_zero_ = result.history, result.is_global_zero
        self.scorer_, self.validation_scores_ = calibration.scorer, calibration.validation_scores
        self._threshold_info(record(None, calibration.threshold, "train", calibration.why))
        self.meta_: dict[str, Any] = {}
        self.training_summary_ = {
            **kind.summary(features, train_x, val_x, split),
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
            "seconds": round(result.seconds, 3), "batch_size": run_cfg.batch_size,
            "best_val_loss": float(result.history["val_loss"].min()) if len(result.history)
            else None,
        }
        return self

    def _threshold_info(self, info: dict[str, Any]) -> None:
        self.threshold_info_ = info
        self.threshold_ = float(info["value"])
        self.offset_ = -self.threshold_

    # ---------------------------------------------------------------- scoring
    def _policy(self, on_bad_rows: str | None) -> str:
        return on_bad_rows or self.settings_.data.on_bad_rows

    def scoring_model(self, baseline_rows: int | None = None) -> Model:
        """`model_`, re-centring each file (group) on its first `baseline_rows` rows if given."""
        return rebased(self.model_, self.kind_, baseline_rows)

    def row_scores(self, X: Any, source: str = "input", on_bad_rows: str | None = None,
                   baseline_rows: int | None = None) -> RowScores:
        """Scores and error shares of each item, in the data's own row order."""
        model = self.scoring_model(baseline_rows)
        return self.kind_.row_scores(model, self.read(self._frame(X, reset=False), source),
                                     source, self._policy(on_bad_rows))

    def anomaly_scores(self, X: Any, baseline_rows: int | None = None) -> np.ndarray:
        """Anomaly score per row (higher = more anomalous)."""
        return self.row_scores(X, baseline_rows=baseline_rows).scores

    def score_stream(self, chunks: Iterable[pd.DataFrame], source: str = "input",
                     on_bad_rows: str | None = None, threshold: float | None = None,
                     row_offset: int = 0, baseline_rows: int | None = None
                     ) -> Iterator[pd.DataFrame]:
        """Score consecutive chunks of one input; yields the scored output part by part."""
        limit = self.threshold_ if threshold is None else float(threshold)
        check_threshold(limit)
        return self.kind_.score_stream(self.scoring_model(baseline_rows), chunks, source,
                                       self._policy(on_bad_rows), limit, row_offset)

    def score_frame(self, frame: Any, source: str = "input", on_bad_rows: str | None = None,
                    threshold: float | None = None, row_offset: int = 0,
                    baseline_rows: int | None = None) -> pd.DataFrame:
        """The scored output of one frame: carried columns (id, time…) + the score columns.

        One row per item: per row (tabular), per timestamp in time order (time series), per
        session (logs).
        """
        parts = list(self.score_stream([self.read(frame, source)], source, on_bad_rows,
                                       threshold, row_offset, baseline_rows))
        return pd.concat(parts, ignore_index=True)

    def read_file(self, path: Path, chunk_rows: int = CHUNK_ROWS,
                  block_bytes: int = CSV_BLOCK_BYTES) -> Iterator[pd.DataFrame]:
        """A file to score, chunk by chunk, read as this detector's kind reads it."""
        return self.kind_.read_file(self.model_, path, chunk_rows, block_bytes)

    def explain(self, X: Any) -> pd.DataFrame:
        """Each feature's share of every row's reconstruction error (rows × features, sums to 1)."""
        return pd.DataFrame(self.row_scores(X).shares, columns=self.features_.feature_columns)

    def explain_item(self, data: Any, position: int = 0) -> Explanation:
        """Why the item at row `position` of `data` scores as it does, judged in its context
        (a row; a timestamp with the windows around it; a session with its lines)."""
        return self.kind_.explain(self.model_, self.read(data), position)

    def find_item(self, path: Path, key: str, group: str | None = None) -> Item:
        """The item `key` of a file: an id value (or row number), a timestamp, a session key;
        `group` names the series (machine…) of a grouped time series."""
        return self.kind_.find(self.model_, path, key, group)

    def kind_metrics(self, frame: pd.DataFrame, labels: np.ndarray,
                     flags: np.ndarray) -> tuple[dict[str, Any], list[str]]:
        """Metrics this kind adds to `anomaly evaluate` (e.g. SKAB's for time series)."""
        return self.kind_.metrics(self.model_, frame, labels, flags)

    # ------------------------------------------------------------ sklearn API
    def score_samples(self, X: Any) -> np.ndarray:
        """scikit-learn convention: higher = more normal (the negated anomaly score)."""
        return -self.anomaly_scores(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Negative for outliers: threshold − anomaly score."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """-1 for outliers (anomaly score above the threshold), +1 for normal rows."""
        labels: np.ndarray = np.where(self.decision_function(X) < 0, -1, 1)
        return labels

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are imputed (with a missingness flag)
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------- threshold
    def set_threshold(self, choice: ThresholdChoice, by: str = "api", why: str = "") -> None:
        """Record a new threshold version (the bundle keeps the history)."""
        check_is_fitted(self, "scorer_")
        self._threshold_info(record(self.threshold_info_, choice, by, why))

    def save_threshold(self) -> None:
        """Write the current threshold (and its history) back into the loaded bundle."""
        self.meta_ = persist.save_threshold(self.bundle_path_, self.meta_, self.threshold_info_)

    # ---------------------------------------------------------------- bundles
    def save(self, path: Path | str, name: str | None = None,
             data_info: dict[str, Any] | None = None) -> Path:
        """Write a new bundle version; returns its folder.

        `save("models/fraud")` and `save("models", "fraud")` both write ``models/fraud/vN``.
        """
        check_is_fitted(self, "scorer_")
        models_dir = Path(path) if name is not None else Path(path).parent
        self.bundle_path_ = persist.save(self, models_dir,
                                         name if name is not None else Path(path).name,
                                         data_info or {})
        return self.bundle_path_

    @classmethod
    def load(cls, ref: str | Path, models_dir: Path | str = "models") -> Detector:
        """Load a verified bundle of any kind (a folder, a model name, or ``name@version``)."""
        return persist.load(cls, ref, Path(models_dir))
