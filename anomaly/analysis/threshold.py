"""What a threshold would do (Threshold tuning page): counts, histograms, the PR curve.

The methods offered and their starting parameters come from `anomaly.core.thresholds.METHODS`,
the one closed set the CLI and bundle.json use as well.

Example:
    >>> picker_methods()[0]
    'manual'
    >>> starting_params("pot")
    {'risk': 0.001, 'level': 0.98}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from anomaly.core.metrics import BinaryReport, binary_report
from anomaly.core.thresholds import METHODS

NOT_IN_PICKER = {"margin"}  # a safety margin over validation scores: the CLI's fallback only


def picker_methods() -> list[str]:
    """The methods the page offers: "manual" (the slider alone) first, then the others."""
    return ["manual", *(m for m in METHODS if m != "manual" and m not in NOT_IN_PICKER)]


def starting_params(method: str) -> dict[str, float]:
    """A method's parameters as the picker first shows them: its defaults, else its example."""
    spec = METHODS[method]
    return {**spec.example, **spec.defaults}


@dataclass(frozen=True)
class ThresholdStats:
    """What a threshold would do: flags in the data, false alarms on normals, alerts per day."""

    threshold: float
    flagged: int
    rows: int
    validation_false_alarm: float
    alerts_per_day: float | None
    report: BinaryReport | None


def threshold_stats(scores: np.ndarray, validation: np.ndarray, threshold: float,
                    times: pd.Series | None = None, labels: np.ndarray | None = None
                    ) -> ThresholdStats:
    """Live counts for one threshold (labels give precision, recall, F1 and the confusion).

    Example:
        >>> stats = threshold_stats(np.array([0.1, 2.0]), np.array([0.1, 0.2, 0.3, 3.0]), 1.0)
        >>> stats.flagged, stats.validation_false_alarm
        (1, 0.25)
    """
    flags = scores > threshold
    per_day = None
    if times is not None and len(times):
        span_days = (times.max() - times.min()).total_seconds() / 86400
        per_day = float(flags.sum() / max(span_days, 1 / 24))
    report = binary_report(labels, scores, threshold) if labels is not None else None
    return ThresholdStats(float(threshold), int(flags.sum()), len(scores),
                          float((validation > threshold).mean()) if len(validation) else 0.0,
                          per_day, report)


def histogram(values: dict[str, np.ndarray], bins: int = 60) -> pd.DataFrame:
    """Shared-bin histograms (share of each series per bin); the top 0.1 % goes to the last bin.

    Example:
        >>> histogram({"x": np.array([0.0, 1.0])}, bins=2)["share"].tolist()
        [0.5, 0.5]
    """
    pooled = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    if not len(pooled):
        return pd.DataFrame(columns=["series", "start", "end", "share"])
    hi = float(np.quantile(pooled, 0.999))
    lo = float(min(pooled.min(), 0.0))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    frames = []
    for name, arr in values.items():
        arr = arr[np.isfinite(arr)]
        counts = np.bincount(np.clip(np.searchsorted(edges, arr, side="right") - 1, 0, bins - 1),
                             minlength=bins)
        frames.append(pd.DataFrame({"series": name, "start": edges[:-1], "end": edges[1:],
                                    "share": counts / max(len(arr), 1)}))
    return pd.concat(frames, ignore_index=True)


def pr_curve(scores: np.ndarray, labels: np.ndarray, points: int = 300) -> pd.DataFrame:
    """Precision-recall curve, thinned to at most `points` points.

    Example:
        >>> pr_curve(np.array([0.1, 0.9]), np.array([0, 1]))["precision"].tolist()
        [0.5, 1.0]
    """
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(labels, scores)
    frame = pd.DataFrame({"recall": recall[:-1], "precision": precision[:-1], "threshold": cuts})
    if len(frame) > points:
        frame = frame.iloc[np.linspace(0, len(frame) - 1, points).round().astype(int)]
    return frame.reset_index(drop=True)
