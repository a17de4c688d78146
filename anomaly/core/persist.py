"""A fitted `Detector` ↔ its bundle (bundle.json + safetensors; format in `anomaly.bundle`)."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from anomaly.bundle import load_bundle, save_bundle
from anomaly.bundle import save_threshold as save_threshold  # Detector.save_threshold
from anomaly.config import Settings, settings_from_json, to_json
from anomaly.core.kind import Kind, Model, rebased
from anomaly.core.scoring import Scorer
from anomaly.errors import BundleError, ConfigError
from anomaly.kinds import KINDS, get_kind
from anomaly.nn import build_network

if TYPE_CHECKING:
    from anomaly.core.detector import Detector


def versions() -> dict[str, str]:
    """Library versions recorded in bundle.json."""
    import pytorch_lightning
    import sklearn

    from anomaly import __version__

    return {"anomaly": __version__, "torch": torch.__version__,
            "pytorch_lightning": str(getattr(pytorch_lightning, "__version__", "?")),
            "numpy": np.__version__, "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def to_meta(det: Detector, data_info: dict[str, Any]) -> dict[str, Any]:
    """Everything bundle.json holds besides format, name, version and hashes."""
    return {
        "kind": det.kind,
        "schema": {"columns": det.kind_.schema(det.features_, det.settings_)},
        "features": det.features_.to_json(),
        "network": det.architecture_,
        "settings": to_json(det.settings_),
        "training": det.training_summary_,
        "scoring": det.scorer_.to_json(),
        "threshold": det.threshold_info_,
        "data": data_info,
        "versions": versions(),
    }


def save(det: Detector, models_dir: Path, name: str, data_info: dict[str, Any]) -> Path:
    """Write the detector as a new version of model `name`; returns the bundle folder."""
    return save_bundle(models_dir, name, to_meta(det, data_info), det.network_, det.history_,
                       det.validation_scores_, det.scorer_.arrays())


@dataclass
class Fitted:
    """A verified bundle's fitted parts, rebuilt without scikit-learn (which takes a second or
    two to import): enough to score files. `anomaly score` loads only this; `Detector.load`
    puts the same parts on a `Detector`."""

    path: Path
    meta: dict[str, Any]
    settings: Settings
    features: Any
    network: nn.Module
    scorer: Scorer
    history: pd.DataFrame
    validation_scores: np.ndarray  # sorted

    @property
    def kind_(self) -> Kind:
        return get_kind(str(self.meta["kind"]))

    @property
    def model_(self) -> Model:
        return Model(self.settings, self.features, self.network, self.scorer,
                     self.validation_scores, getattr(self.features, "baseline_rows", None))

    @property
    def threshold_(self) -> float:
        return float(self.meta["threshold"]["value"])

    @property
    def bundle_path_(self) -> Path:
        """The bundle folder (what a Dask worker loads)."""
        return self.path

    def read_file(self, path: Path, chunk_rows: int, block_bytes: int
                  ) -> Iterator[pd.DataFrame]:
        """A file to score, chunk by chunk (as `Detector.read_file`)."""
        return self.kind_.read_file(self.model_, path, chunk_rows, block_bytes)

    def score_stream(self, chunks: Iterable[pd.DataFrame], source: str,
                     on_bad_rows: str | None = None, threshold: float | None = None,
                     row_offset: int = 0, baseline_rows: int | None = None
                     ) -> Iterator[pd.DataFrame]:
        """Scored chunks (as `Detector.score_stream`)."""
        return self.kind_.score_stream(
            rebased(self.model_, self.kind_, baseline_rows), chunks, source,
            on_bad_rows or self.settings.data.on_bad_rows,
            self.threshold_ if threshold is None else float(threshold), row_offset)


def load_fitted(ref: str | Path, models_dir: Path) -> Fitted:
    """Load and verify a bundle of any kind and rebuild its fitted parts."""
    bundle = load_bundle(ref, models_dir)
    meta = bundle.meta
    kind = str(meta.get("kind"))
    if kind not in KINDS:
        raise BundleError(f"{bundle.path}: data kind {kind!r} is not supported by this version "
                          f"of anomaly (supported: {', '.join(KINDS)})")
    try:
        settings = settings_from_json(meta["settings"])
        network = build_network(meta["network"]["class"], meta["network"]["args"])
        network.load_state_dict(bundle.state, strict=True)
        network.eval()
        fitted = Fitted(bundle.path, meta, settings,
                        get_kind(kind).features_from_json(meta["features"]), network,
                        Scorer.from_json(meta["scoring"], bundle.arrays), bundle.history,
                        np.sort(bundle.validation_scores))
        float(meta["threshold"]["value"])
    except (KeyError, TypeError, RuntimeError, ValueError, ConfigError) as exc:
        raise BundleError(f"{bundle.path}: bundle contents do not fit together ({exc}) — "
                          "retrain the model") from exc
    return fitted


def load(cls: type[Detector], ref: str | Path, models_dir: Path) -> Detector:
    """Load and verify a bundle of any kind and rebuild its fitted detector."""
    fitted = load_fitted(ref, models_dir)
    meta = fitted.meta
    try:
        det = cls.from_settings(fitted.settings)
    except (TypeError, ValueError, ConfigError) as exc:
        raise BundleError(f"{fitted.path}: bundle contents do not fit together ({exc}) — "
                          "retrain the model") from exc
    det.settings_ = fitted.settings
    det.features_ = fitted.features
    det.architecture_ = meta["network"]
    det.network_ = fitted.network
    det.scorer_ = fitted.scorer
    det.history_ = fitted.history
    det.validation_scores_ = fitted.validation_scores
    det._threshold_info(meta["threshold"])
    det.training_summary_ = meta.get("training", {})
    det.n_features_in_ = len(det.features_.feature_columns)
    det.bundle_path_ = fitted.path
    det.meta_ = meta
    return det
