"""The Training page: diagnostics of a bundle's history (history.csv), what it was trained on.

Example:
    >>> history = pd.DataFrame({"train_loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.35]})
    >>> [f.level for f in diagnose_training(history, 3)]
    ['ok']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

OVERFIT_RISE = 0.10  # validation loss this far above its minimum, after it, is overfitting
STALL_DROP = 0.05  # training loss falling less than this is a stalled run
GAP_RATIO = 2.0  # final validation loss over this times the training loss is a warning


@dataclass(frozen=True)
class Finding:
    """One diagnostic message: level is 'ok', 'warning' or 'info'."""

    level: str
    message: str


def diagnose_training(history: pd.DataFrame, best_epoch: int | None) -> list[Finding]:
    """Warn when validation loss diverges from training loss or when the loss did not go down.

    * overfitting: after the best epoch, validation loss rose by > 10 % above its minimum
      while training loss kept falling;
    * stalled: training loss fell by less than 5 % from the first to the best epoch;
    * gap: final validation loss more than twice the training loss.

    Args:
        history: one row per epoch with ``train_loss`` and ``val_loss``.
        best_epoch: the 1-based epoch whose weights were kept (None: the lowest val_loss).

    Example:
        >>> diagnose_training(pd.DataFrame(), None)[0].level
        'warning'
    """
    findings: list[Finding] = []
    if history.empty or not {"train_loss", "val_loss"} <= set(history.columns):
        return [Finding("warning", "no training history in the bundle — retrain to get curves")]
    train = history["train_loss"].to_numpy(dtype=float)
    val = history["val_loss"].to_numpy(dtype=float)
    if not (np.isfinite(train).all() and np.isfinite(val).all()):
        return [Finding("warning", "the loss became NaN/inf during training — lower the learning "
                        "rate (--lr) or keep gradient clipping on, then retrain")]
    best = int(np.argmin(val)) if best_epoch is None else min(max(best_epoch - 1, 0), len(val) - 1)
    if len(val) > best + 1:
        rise = val[best + 1:].max() / max(val[best], 1e-12) - 1
        if rise > OVERFIT_RISE and train[-1] < train[best]:
            findings.append(Finding(
                "warning", f"overfitting: validation loss rose {rise:.0%} above its minimum "
                f"(epoch {best + 1}) while training loss kept falling — early stopping kept "
                f"epoch {best + 1}; add data, --dropout, --weight-decay or a smaller --hidden"))
    drop = 1 - train[best] / max(train[0], 1e-12) if len(train) > 1 else 0.0
    if len(train) < 2 or drop < STALL_DROP:
        findings.append(Finding(
            "warning", f"stalled training: loss fell only {drop:.1%} — raise --lr, train longer "
            "(--epochs) or check that the features vary"))
    if val[-1] > GAP_RATIO * train[-1] > 0:
        findings.append(Finding(
            "warning", f"validation loss ({val[-1]:.4g}) is over twice the training loss "
                       f"({train[-1]:.4g}) — the model may not generalise to new normal data"))
    if not findings:
        findings.append(Finding("ok", f"loss fell {drop:.0%}; validation follows training "
                                      "(no sign of overfitting)"))
    return findings


def data_counts(summary: dict[str, Any], item: str) -> list[tuple[str, int]]:
    """What the model was trained on, as (label, count) for the counts the summary holds.

    Every kind counts its training and validation items (rows, timestamps, sessions); time
    series add the windows cut from them and the window length, logs the templates mined.

    Example:
        >>> data_counts({"train_rows": 320, "train_windows": 306, "window": 8}, "timestamp")
        [('Training timestamps', 320), ('Training windows', 306), ('Window (rows)', 8)]
        >>> data_counts({"train_rows": 96, "templates": 4}, "session")
        [('Training sessions', 96), ('Log templates', 4)]
    """
    labels = {"train_rows": f"Training {item}s", "validation_rows": f"Validation {item}s",
              "train_windows": "Training windows", "validation_windows": "Validation windows",
              "window": "Window (rows)", "templates": "Log templates"}
    return [(label, int(summary[key])) for key, label in labels.items()
            if isinstance(summary.get(key), int | float) and not isinstance(summary[key], bool)]


KIND_SECTIONS = {"timeseries": "window", "logs": "logs"}  # a kind's own settings in bundle.json


def data_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """How the data was read: the kind, the data options, the kind's own options (windows,
    sessions) and the training file's fingerprint, from bundle.json.

    Example:
        >>> meta = {"kind": "logs", "settings": {"data": {"id_col": []}, "window": {"window": 32},
        ...         "logs": {"session_window": "5m"}}}
        >>> data_settings(meta)
        {'kind': 'logs', 'id_col': [], 'session_window': '5m'}
    """
    settings = meta.get("settings", {})
    section = KIND_SECTIONS.get(str(meta.get("kind")))
    return {"kind": meta.get("kind"), **settings.get("data", {}),
            **(settings.get(section, {}) if section else {}), **meta.get("data", {})}
