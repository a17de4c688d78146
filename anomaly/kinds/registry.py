"""Which detector class handles which data kind; loading a bundle picks the class by its kind.

New kinds register here with a "module:Class" path, imported only when used.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from anomaly.bundle import load_bundle
from anomaly.errors import BundleError, ConfigError

KINDS: dict[str, str] = {
    "tabular": "anomaly.core.detector:Detector",
    "logs": "anomaly.kinds.logs.detector:LogDetector",
    "timeseries": "anomaly.kinds.timeseries.detector:TimeseriesDetector",
}


def detector_class(kind: str) -> Any:
    """The detector class for a data kind."""
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r} is not available — choose one of {', '.join(KINDS)}")
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def load_detector(ref: str | Path, models_dir: Path) -> Any:
    """Load and verify a bundle, then rebuild the detector of its kind."""
    bundle = load_bundle(ref, models_dir)
    kind = str(bundle.meta.get("kind"))
    if kind not in KINDS:
        raise BundleError(f"{bundle.path}: data kind {kind!r} is not supported by this version "
                          f"of anomaly (supported: {', '.join(KINDS)})")
    return detector_class(kind).from_bundle(bundle)
