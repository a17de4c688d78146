"""A fitted `Detector` ↔ its bundle (bundle.json + safetensors; format in `anomaly.bundle`)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from anomaly.bundle import load_bundle, save_bundle, update_meta
from anomaly.config import settings_from_json, to_json
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
                       det.validation_scores_)


def load(cls: type[Detector], ref: str | Path, models_dir: Path) -> Detector:
    """Load and verify a bundle of any kind and rebuild its fitted detector."""
    bundle = load_bundle(ref, models_dir)
    meta = bundle.meta
    kind = str(meta.get("kind"))
    if kind not in KINDS:
        raise BundleError(f"{bundle.path}: data kind {kind!r} is not supported by this version "
                          f"of anomaly (supported: {', '.join(KINDS)})")
    try:
        settings = settings_from_json(meta["settings"])
        det = cls.from_settings(settings)
        det.settings_ = settings
        det.features_ = get_kind(kind).features_from_json(meta["features"])
        det.architecture_ = meta["network"]
        det.network_ = build_network(meta["network"]["class"], meta["network"]["args"])
        det.network_.load_state_dict(bundle.state, strict=True)
        det.network_.eval()
        det.scorer_ = Scorer.from_json(meta["scoring"])
    except (KeyError, TypeError, RuntimeError, ValueError, ConfigError) as exc:
        raise BundleError(f"{bundle.path}: bundle contents do not fit together ({exc}) — "
                          "retrain the model") from exc
    det.history_ = bundle.history
    det.validation_scores_ = np.sort(bundle.validation_scores)
    det._threshold_info(meta["threshold"])
    det.training_summary_ = meta.get("training", {})
    det.n_features_in_ = len(det.features_.feature_columns)
    det.bundle_path_ = bundle.path
    det.meta_ = meta
    return det


def save_threshold(path: Path, meta: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Write a threshold block back into a bundle's bundle.json; returns the new meta."""
    updated = {**meta, "threshold": info}
    update_meta(path, updated)
    return updated
