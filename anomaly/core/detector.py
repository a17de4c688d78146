"""`Detector`: the one facade over features, training, scoring, thresholds and bundles.

The CLI, batch jobs and the dashboard all go through it, and it follows scikit-learn's outlier
contract: `fit` returns self, `score_samples` is higher for more normal rows,
`decision_function` is negative for outliers, and `predict` returns +1 (normal) / -1 (outlier).

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
import platform
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from anomaly.bundle import Bundle, load_bundle, save_bundle, update_meta
from anomaly.config import DataConfig, ModelConfig, Settings, TrainingConfig, override, validate
from anomaly.core import thresholds
from anomaly.core.scoring import Scorer, fold_inputs, percentiles, run_network, top_features
from anomaly.errors import BundleError, InputError
from anomaly.kinds.tabular.features import TabularFeatures
from anomaly.nn.conv import ConvAutoencoder
from anomaly.nn.dense import DenseAutoencoder, default_hidden
from anomaly.nn.flat import WindowDenseAutoencoder
from anomaly.nn.lstm import LSTMAutoencoder

log = logging.getLogger("anomaly")

MIN_TRAIN_ROWS = 10
DEFAULT_QUANTILE = 0.995
DEFAULT_LATENT_WEIGHT = 2.0
NETWORKS: dict[str, type[torch.nn.Module]] = {
    "DenseAutoencoder": DenseAutoencoder, "ConvAutoencoder": ConvAutoencoder,
    "LSTMAutoencoder": LSTMAutoencoder, "WindowDenseAutoencoder": WindowDenseAutoencoder}
_SECTIONS = {"data": DataConfig, "model": ModelConfig, "training": TrainingConfig}
SCORE_COLUMNS = ["anomaly_score", "score_percentile", "is_anomaly", "top_features"]


def _versions() -> dict[str, str]:
    import pytorch_lightning
    import sklearn

    from anomaly import __version__

    return {"anomaly": __version__, "torch": torch.__version__,
            "pytorch_lightning": str(getattr(pytorch_lightning, "__version__", "?")),
            "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "python": platform.python_version()}


class Detector(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Autoencoder anomaly detector. Every argument left as None takes the documented default.

    Args:
        kind: data kind; "tabular" here (time series and logs build on the same machinery).
        hidden: encoder widths, the last is the code size (default: sized from the inputs).
        activation, dropout, norm, residual: network options (see `DenseAutoencoder`).
        optimizer: adam, adamw, sgd (with momentum), rmsprop or adagrad.
        lr, momentum, weight_decay, l1, noise, schedule, gradient_clip, batch_size, max_epochs,
        min_epochs, patience, val_fraction, seed: training options (see `TrainingConfig`).
        accelerator, devices, strategy, num_nodes, progress_bar: passed to Lightning's Trainer.
        id_col, time_col, label_col, column_types, on_bad_rows, max_categories: data options.
        latent_weight: weight of the latent-space distance in the score (0 = reconstruction only).
        threshold_q: quantile of validation-normal scores used as the initial threshold.
    """

    # Weight of the latent distance in the score when `latent_weight` is None (set per kind by
    # benchmark: it pays on tabular data; log-count features score best on reconstruction alone).
    default_latent_weight: float = DEFAULT_LATENT_WEIGHT
    # Quantile of validation scores that sets the initial threshold when `threshold_q` is None.
    default_quantile: float = DEFAULT_QUANTILE
    # Constructor arguments a subclass adds for its kind (it takes the shared ones as **kwargs,
    # which scikit-learn's signature-based get_params cannot see).
    kind_params: tuple[str, ...] = ()

    @classmethod
    def _get_param_names(cls) -> list[str]:
        shared: list[str] = super(Detector, Detector)._get_param_names()  # from the signature
        return sorted({*shared, *cls.kind_params})

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
                 progress_bar: bool | None = False,
                 id_col: tuple[str, ...] | str | None = None, time_col: str | None = None,
                 label_col: str | None = None, column_types: dict[str, str] | None = None,
                 on_bad_rows: str | None = None, max_categories: int | None = None,
                 latent_weight: float | None = None, threshold_q: float | None = None) -> None:
        self.kind = kind
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.residual = residual
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.l1 = l1
        self.noise = noise
        self.schedule = schedule
        self.gradient_clip = gradient_clip
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.min_epochs = min_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.accelerator = accelerator
        self.devices = devices
        self.strategy = strategy
        self.num_nodes = num_nodes
        self.progress_bar = progress_bar
        self.id_col = id_col
        self.time_col = time_col
        self.label_col = label_col
        self.column_types = column_types
        self.on_bad_rows = on_bad_rows
        self.max_categories = max_categories
        self.latent_weight = latent_weight
        self.threshold_q = threshold_q

    # --------------------------------------------------------------- settings
    @classmethod
    def from_settings(cls, settings: Settings, **extra: Any) -> Detector:
        """A detector whose arguments mirror `settings` (config file + CLI flags)."""
        params: dict[str, Any] = {}
        for section in _SECTIONS:
            obj = getattr(settings, section)
            params.update({f.name: getattr(obj, f.name) for f in fields(obj)})
        return cls(kind=settings.kind, **params, **extra)

    def settings(self) -> Settings:
        """The effective settings: defaults overridden by every argument that is not None."""
        settings = Settings(kind=self.kind)  # type: ignore[arg-type]
        for section, cls in _SECTIONS.items():
            values = {f.name: getattr(self, f.name) for f in fields(cls)}
            if isinstance(values.get("id_col"), str):
                values["id_col"] = (values["id_col"],)
            if values.get("hidden") is not None:
                values["hidden"] = tuple(int(h) for h in values["hidden"])
            settings = override(settings, section, **values)
        validate(settings)
        return settings

    # ------------------------------------------------------------------ input
    def _frame(self, X: Any, reset: bool) -> pd.DataFrame:
        """DataFrames pass through (columns by name); arrays go through sklearn's checks."""
        if isinstance(X, pd.DataFrame):
            if reset:
                self.n_features_in_ = X.shape[1]
            return X
        array = validate_data(self, X, reset=reset, dtype=np.float64,
                              ensure_all_finite="allow-nan", ensure_min_samples=1)
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])

    # --------------------------------------------- kind-specific hooks (tabular)
    # Other data kinds subclass Detector and override these; the rest is shared.
    def _split(self, frame: pd.DataFrame, settings: Settings
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Seeded random train/validation split of the normal rows."""
        order = np.random.default_rng(settings.training.seed).permutation(len(frame))
        n_val = max(2, round(settings.training.val_fraction * len(frame)))
        return frame.iloc[order[n_val:]], frame.iloc[order[:n_val]]

    def _fit_features(self, train_rows: pd.DataFrame, settings: Settings,
                      source: str) -> Any:
        """Fit the feature transform on training rows only."""
        return TabularFeatures().fit(train_rows, settings.data, source)

    @classmethod
    def _features_from_json(cls, raw: dict[str, Any]) -> Any:
        return TabularFeatures.from_json(raw)

    def _inputs(self, frame: pd.DataFrame, source: str, policy: str,
                row_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Network inputs for `frame` and the mask of rows kept (bad rows may be skipped)."""
        inputs, keep = self.features_.transform(frame, source, policy, row_offset)
        return inputs, keep

    def _network_spec(self, train_x: np.ndarray, settings: Settings
                      ) -> tuple[str, dict[str, Any]]:
        """Allow-listed network class name and its JSON arguments."""
        n_inputs = int(train_x.shape[1])
        m = settings.model
        return "DenseAutoencoder", {
            "n_inputs": n_inputs, "hidden": list(m.hidden or default_hidden(n_inputs)),
            "activation": m.activation, "dropout": m.dropout, "norm": m.norm,
            "residual": m.residual}

    def _feature_errors(self, inputs: np.ndarray, want_codes: bool
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        """Squared reconstruction error per output row and user feature (+ codes if asked)."""
        errors, codes = run_network(self.network_, inputs, want_codes=want_codes)
        f = self.features_
        return fold_inputs(errors, f.input_sources, f.feature_columns), codes

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, *, source: str = "input") -> Detector:
        """Train on normal rows (rows labelled 1 in `label_col` are left out of training)."""
        settings = self.settings()
        frame = self._frame(X, reset=True)
        data, cfg = settings.data, settings.training
        if data.label_col and data.label_col in frame.columns:
            labels = check_labels(frame[data.label_col], data.label_col, source)
            if labels.any():
                log.warning("%s: %d row(s) labelled anomalous in %r left out of training",
                            source, int(labels.sum()), data.label_col)
            frame = frame.loc[~labels]
        if len(frame) < MIN_TRAIN_ROWS:
            raise InputError(f"{source}: {len(frame)} normal row(s) — training needs at least "
                             f"{MIN_TRAIN_ROWS} (more is better: thousands) — add rows")
        train_rows, val_rows = self._split(frame, settings)
        self.settings_ = settings
        self.features_ = self._fit_features(train_rows, settings, source)
        train_x, _ = self._inputs(train_rows, source, data.on_bad_rows)
        val_x, _ = self._inputs(val_rows, source, data.on_bad_rows)
        if len(train_x) < MIN_TRAIN_ROWS - 2 or len(val_x) < 2:
            raise InputError(f"{source}: too few usable rows after skipping bad ones "
                             f"({len(train_x)} train, {len(val_x)} validation) — fix the data")
        class_name, args = self._network_spec(train_x, settings)
        torch.manual_seed(cfg.seed)  # the initial weights are part of a reproducible run
        from anomaly.training import train_autoencoder  # Lightning: import only to train

        run_cfg = self._training_config(cfg, len(train_x))
        result = train_autoencoder(build_network(class_name, args), torch.from_numpy(train_x),
                                   torch.from_numpy(val_x), run_cfg)
        self.is_global_zero_ = result.is_global_zero
        for note in result.notes:
            log.warning("%s: %s", source, note)
        self.meta_: dict[str, Any] = {}
        self.network_ = result.network
        self.architecture_ = {"class": class_name, "args": args}
        self.history_ = result.history
        self._calibrate(train_x, val_x)
        self.training_summary_ = {
            "train_rows": len(train_x), "validation_rows": len(val_x),
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
            "seconds": round(result.seconds, 3), "batch_size": run_cfg.batch_size,
            "best_val_loss": float(result.history["val_loss"].min()) if len(result.history)
            else None,
        }
        return self

    def _training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        """The training settings used for `n_train` training inputs (a kind may adapt them)."""
        return cfg

    def _calibrate(self, train_x: np.ndarray, val_x: np.ndarray) -> None:
        """Fit the scorer on validation normals and set the initial (quantile) threshold."""
        lw = (self.default_latent_weight if self.latent_weight is None
              else float(self.latent_weight))
        val_err, val_codes = self._feature_errors(val_x, want_codes=lw > 0)
        train_codes = self._feature_errors(train_x, want_codes=True)[1] if lw > 0 else None
        self.scorer_ = Scorer.fit(self.features_.feature_columns, val_err, train_codes,
                                  val_codes, lw)
        self.validation_scores_ = np.sort(self.scorer_.score(val_err, val_codes)[0])
        q = self.default_quantile if self.threshold_q is None else float(self.threshold_q)
        choice = thresholds.choose_threshold("quantile", self.validation_scores_, q=q)
        entry = {"version": 1, "method": choice.method, "params": choice.params,
                 "value": float(choice.value), "at": _now(), "by": "train",
                 "why": "initial threshold"}
        self.threshold_info_: dict[str, Any] = {**entry, "history": [entry]}
        self.threshold_ = float(choice.value)
        self.offset_ = -self.threshold_

    # ---------------------------------------------------------------- scoring
    def _errors(self, frame: pd.DataFrame, source: str, on_bad_rows: str | None,
                row_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scores, error shares, kept-row mask and network inputs for `frame`."""
        check_is_fitted(self, "scorer_")
        policy = on_bad_rows or self.settings_.data.on_bad_rows
        inputs, keep = self._inputs(frame, source, policy, row_offset)
        errors, codes = self._feature_errors(inputs, want_codes=self.scorer_.uses_codes)
        scores, shares = self.scorer_.score(errors, codes)
        return scores, shares, keep, inputs

    def anomaly_scores(self, X: Any) -> np.ndarray:
        """Anomaly score per row (higher = more anomalous)."""
        frame = self._frame(X, reset=False)
        return self._errors(frame, "input", None)[0]

    def score_frame(self, frame: pd.DataFrame, source: str = "input",
                    on_bad_rows: str | None = None, threshold: float | None = None,
                    row_offset: int = 0) -> pd.DataFrame:
        """The scored output: role columns carried through + the DESIGN.md score columns."""
        scores, shares, keep, _ = self._errors(frame, source, on_bad_rows, row_offset)
        limit = self.threshold_ if threshold is None else float(threshold)
        out = frame.loc[keep, [c for c in self.features_.carried_columns if c in frame.columns]]
        out = out.reset_index(drop=True)
        out["anomaly_score"] = scores
        out["score_percentile"] = percentiles(scores, self.validation_scores_)
        out["is_anomaly"] = scores > limit
        out["top_features"] = top_features(shares, self.features_.feature_columns)
        return out

    def explain(self, X: Any) -> pd.DataFrame:
        """Each feature's share of every row's reconstruction error (rows × features, sums to 1)."""
        frame = self._frame(X, reset=False)
        _, shares, _, _ = self._errors(frame, "input", None)
        return pd.DataFrame(shares, columns=self.features_.feature_columns)

    def explain_row(self, row: pd.DataFrame) -> pd.DataFrame:
        """One row in detail: per feature its value, the reconstruction, and its error share."""
        _, shares, _, inputs = self._errors(row.head(1), "input", None)
        with torch.inference_mode():
            recon = self.network_(torch.from_numpy(inputs)).numpy()[0]
        names = self.features_.input_names
        records = []
        for j, feature in enumerate(self.features_.feature_columns):
            idx = [i for i, s in enumerate(self.features_.input_sources) if s == feature]
            value, rebuilt = describe_input(self.features_, feature, inputs[0, idx], recon[idx],
                                            [names[i] for i in idx])
            records.append({"feature": feature, "value": value, "reconstruction": rebuilt,
                            "error_share": float(shares[0, j])})
        return pd.DataFrame(records).sort_values("error_share", ascending=False)

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
    def set_threshold(self, choice: thresholds.ThresholdChoice, by: str = "api",
                      why: str = "") -> None:
        """Record a new threshold version (the bundle keeps the history)."""
        check_is_fitted(self, "scorer_")
        info: dict[str, Any] = self.threshold_info_
        version = int(info["version"]) + 1
        entry = {"version": version, "method": choice.method, "params": choice.params,
                 "value": float(choice.value), "at": _now(), "by": by, "why": why}
        history = [*info.get("history", []), entry]
        self.threshold_info_ = {**entry, "history": history}
        self.threshold_ = float(choice.value)
        self.offset_ = -self.threshold_

    # ---------------------------------------------------------------- bundles
    def to_meta(self, data_info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything bundle.json holds besides format, name, version and hashes."""
        from anomaly.config import to_json

        return {
            "kind": self.kind,
            "schema": {"columns": self._schema()},
            "features": self.features_.to_json(),
            "network": self.architecture_,
            "settings": to_json(self.settings_),
            "training": self.training_summary_,
            "scoring": self.scorer_.to_json(),
            "threshold": self.threshold_info_,
            "data": data_info or {},
            "versions": _versions(),
        }

    def _schema(self) -> list[dict[str, str]]:
        """Input schema for bundle.json: each column with its role (and dtype for features)."""
        numeric = {c.name for c in self.features_.numeric}
        schema = [{"name": c, "role": "feature",
                   "dtype": "numeric" if c in numeric else "categorical"}
                  for c in self.features_.feature_columns]
        s = self.settings_.data
        for role, cols in (("id", s.id_col), ("time", (s.time_col,)), ("label", (s.label_col,))):
            schema += [{"name": c, "role": role} for c in cols if c]
        return schema

    def save(self, path: Path | str, name: str | None = None,
             data_info: dict[str, Any] | None = None) -> Path:
        """Write a new bundle version; returns its folder.

        `save("models/fraud")` and `save("models", "fraud")` both write ``models/fraud/vN``.
        """
        check_is_fitted(self, "scorer_")
        models_dir = Path(path) if name is not None else Path(path).parent
        name = name if name is not None else Path(path).name
        path = save_bundle(models_dir, name, self.to_meta(data_info), self.network_,
                           self.history_, self.validation_scores_)
        self.bundle_path_ = path
        return path

    @classmethod
    def load(cls, ref: str | Path, models_dir: Path | str = "models") -> Detector:
        """Load a verified bundle (a folder, a model name, or ``name@version``)."""
        bundle = load_bundle(ref, Path(models_dir))
        return cls.from_bundle(bundle)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Detector:
        """Rebuild a fitted detector from a loaded bundle."""
        from anomaly.config import settings_from_json

        meta = bundle.meta
        if meta.get("kind") != cls().kind:
            raise BundleError(f"{bundle.path}: data kind {meta.get('kind')!r} does not match "
                              f"{cls.__name__} — load it with anomaly.kinds.registry.load_detector")
        try:
            settings = settings_from_json(meta["settings"])
            det = cls.from_settings(settings)
            det.settings_ = settings
            det.features_ = cls._features_from_json(meta["features"])
            det.architecture_ = meta["network"]
            det.network_ = build_network(meta["network"]["class"], meta["network"]["args"])
            det.network_.load_state_dict(bundle.state, strict=True)
            det.network_.eval()
            det.scorer_ = Scorer.from_json(meta["scoring"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise BundleError(f"{bundle.path}: bundle contents do not fit together ({exc}) — "
                              "retrain the model") from exc
        det.history_ = bundle.history
        det.validation_scores_ = np.sort(bundle.validation_scores)
        det.threshold_info_ = meta["threshold"]
        det.threshold_ = float(meta["threshold"]["value"])
        det.offset_ = -det.threshold_
        det.training_summary_ = meta.get("training", {})
        det.n_features_in_ = len(det.features_.feature_columns)
        det.bundle_path_ = bundle.path
        det.meta_ = meta
        return det

    def save_threshold(self) -> None:
        """Write the current threshold (and its history) back into the loaded bundle."""
        meta: dict[str, Any] = dict(self.meta_)
        meta["threshold"] = self.threshold_info_
        update_meta(self.bundle_path_, meta)
        self.meta_ = meta


def build_network(class_name: str, args: dict[str, Any]) -> torch.nn.Module:
    """Instantiate an allow-listed network class from JSON arguments (no code is imported)."""
    if class_name not in NETWORKS:
        raise BundleError(f"unknown network class {class_name!r} — known: {', '.join(NETWORKS)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    return NETWORKS[class_name](**clean)


def check_labels(series: pd.Series, column: str, source: str) -> np.ndarray:
    """Labels must be 0/1 (or true/false); returns a boolean array (True = anomaly)."""
    values = pd.to_numeric(series, errors="coerce") if not pd.api.types.is_bool_dtype(series) \
        else series.astype(float)
    bad = ~values.isin([0, 1])
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{source}: label column {column!r} row {first + 1:,}: "
                         f"{series.iloc[first]!r} is not 0 or 1 — labels must be 0 (normal) or "
                         "1 (anomaly)")
    flags: np.ndarray = values.to_numpy(dtype=np.float64) == 1
    return flags


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


def _now() -> str:
    from anomaly.bundle import now

    return now()
