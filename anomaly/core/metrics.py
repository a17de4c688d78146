"""Evaluation metrics for anomaly scores and binary flags.

All functions are pure. ``labels`` and ``flags`` are 1-D arrays of 0/1 (or bool);
``1`` means anomalous. Ratios with a zero denominator are reported as ``0.0``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from anomaly.core.labels import binary


@dataclass(frozen=True)
class BinaryReport:
    """Point-wise classification quality at one threshold."""

    roc_auc: float | None
    pr_auc: float | None
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    tn: int
    fn: int

    def as_dict(self) -> dict[str, float | int | None]:
        """Return the report as a plain dict (JSON-serialisable)."""
        return asdict(self)


@dataclass(frozen=True)
class EventReport:
    """Segment-level detection: how many anomalous segments were hit, and how late."""

    n_events: int
    detected: int
    recall: float
    mean_delay: float | None
    median_delay: float | None


@dataclass(frozen=True)
class SkabReport:
    """SKAB benchmark metrics: F1, false alarm rate and missed alarm rate (both in %)."""

    f1: float
    far: float
    mar: float


def _pair(labels: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels and flags and check that their lengths match."""
    y, f = binary(labels, "labels"), binary(flags, "flags")
    if y.size != f.size:
        raise ValueError(
            f"labels has {y.size} values but flags has {f.size}; pass one flag per label."
        )
    return y, f


def _ratio(num: float, den: float) -> float:
    """Return ``num / den``, or 0.0 when ``den`` is 0."""
    return float(num / den) if den else 0.0


def _confusion(y: np.ndarray, f: np.ndarray) -> tuple[int, int, int, int]:
    """Return ``(tp, fp, tn, fn)`` for labels ``y`` and flags ``f``."""
    tp = int(np.sum((y == 1) & (f == 1)))
    fp = int(np.sum((y == 0) & (f == 1)))
    tn = int(np.sum((y == 0) & (f == 0)))
    fn = int(np.sum((y == 1) & (f == 0)))
    return tp, fp, tn, fn


def _f1(tp: int, fp: int, fn: int) -> float:
    """Return ``2tp / (2tp + fp + fn)`` (0.0 when undefined)."""
    return _ratio(2 * tp, 2 * tp + fp + fn)


def binary_report(labels: np.ndarray, scores: np.ndarray, threshold: float) -> BinaryReport:
    """Score-based report; a row is flagged when ``score > threshold``.

    ``roc_auc`` and ``pr_auc`` (average precision) are ``None`` when ``labels``
    contain only one class.
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"scores must be a 1-D array, got shape {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values; drop or impute those rows.")
    y = binary(labels, "labels")
    if y.size != s.size:
        raise ValueError(
            f"labels has {y.size} values but scores has {s.size}; pass one score per label."
        )
    from sklearn.metrics import average_precision_score, roc_auc_score  # slow to import

    tp, fp, tn, fn = _confusion(y, (s > threshold).astype(int))
    both = 0 < int(y.sum()) < y.size
    return BinaryReport(
        roc_auc=float(roc_auc_score(y, s)) if both else None,
        pr_auc=float(average_precision_score(y, s)) if both else None,
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        f1=_f1(tp, fp, fn),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """Return the contiguous runs of 1s in ``labels`` as ``(start, end_exclusive)``."""
    y = binary(labels, "labels")
    edges = np.diff(np.concatenate(([0], y, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def point_adjusted_f1(labels: np.ndarray, flags: np.ndarray) -> float:
    """Return F1 after point adjustment.

    If any point of a true anomalous segment is flagged, the whole segment counts
    as detected; flags outside segments stay false positives.
    """
    y, f = _pair(labels, flags)
    adjusted = f.copy()
    for start, end in segments(y):
        if f[start:end].any():
            adjusted[start:end] = 1
    tp, fp, _, fn = _confusion(y, adjusted)
    return _f1(tp, fp, fn)


def event_report(labels: np.ndarray, flags: np.ndarray) -> EventReport:
    """Return segment-level recall and detection delay.

    The delay of a detected segment is the number of rows from its start to its
    first flagged row; delays are ``None`` when no segment is detected.
    """
    y, f = _pair(labels, flags)
    events = segments(y)
    delays = [int(np.argmax(f[a:b])) for a, b in events if f[a:b].any()]
    return EventReport(
        n_events=len(events),
        detected=len(delays),
        recall=_ratio(len(delays), len(events)),
        mean_delay=float(np.mean(delays)) if delays else None,
        median_delay=float(np.median(delays)) if delays else None,
    )


def skab_report(labels: np.ndarray, flags: np.ndarray) -> SkabReport:
    """Return SKAB metrics: ``F1 = TP / (TP + (FP + FN) / 2)``, FAR and MAR in percent."""
    y, f = _pair(labels, flags)
    tp, fp, tn, fn = _confusion(y, f)
    return SkabReport(
        f1=_ratio(tp, tp + (fp + fn) / 2),
        far=100.0 * _ratio(fp, fp + tn),
        mar=100.0 * _ratio(fn, fn + tp),
    )
