"""Training as every front end runs it: read → fit → fingerprint → save, for any data kind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomaly.bundle import sha256_file
from anomaly.config import Settings

if TYPE_CHECKING:
    from anomaly.core.detector import Detector

NAME_SUFFIXES = ("_train", "-train", "_test", "-test", "_normal")


@dataclass(frozen=True)
class Trained:
    """A trained and saved model."""

    name: str
    detector: Detector
    bundle: Path


def default_name(path: Path) -> str:
    """The model name for a training file: its stem without a `_train`/`_test` suffix.

    Example:
        >>> default_name(Path("data/transactions_train.csv"))
        'transactions'
    """
    stem = path.name.split(".")[0]
    for suffix in NAME_SUFFIXES:
        stem = stem.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:64] or "model"


def fingerprint(paths: list[Path], frame: Any) -> dict[str, Any]:
    """What the model was trained on: files with their SHA-256, rows and columns."""
    return {"path": ", ".join(map(str, paths)),
            "files": [{"path": str(p), "sha256": sha256_file(p)} for p in paths],
            "sha256": sha256_file(paths[0]), "rows": len(frame),
            "columns": [str(c) for c in frame.columns if not str(c).startswith("_")]}


def train_model(paths: list[Path], settings: Settings, models_dir: Path,
                name: str | None = None) -> Trained | None:
    """Train a detector of `settings.kind` on the files and save it as a new bundle version.

    Returns None on a DDP worker (rank 0 writes the bundle).
    """
    from anomaly.bundle import prepare_home
    from anomaly.core.detector import Detector

    model_name = name or default_name(paths[0])
    prepare_home(models_dir, model_name)  # before the work: a bad name or folder fails now
    detector = Detector.from_settings(settings)
    source = ", ".join(map(str, paths))
    frame = detector.read(paths, source)
    detector.fit(frame, source=source)
    if not detector.is_global_zero_:
        return None
    bundle = detector.save(models_dir, model_name, fingerprint(paths, frame))
    return Trained(model_name, detector, bundle)
