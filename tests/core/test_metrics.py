"""Tests for anomaly.core.metrics with small hand-checked examples."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly.core.metrics import (
    BinaryReport,
    EventReport,
    SkabReport,
    binary_report,
    event_report,
    point_adjusted_f1,
    segments,
    skab_report,
)


def test_binary_report_counts() -> None:
    labels = np.array([0, 0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.6, 0.2, 0.9, 0.4, 0.3, 0.8])
    rep = binary_report(labels, scores, threshold=0.5)  # flags rows 1, 3, 6
    assert (rep.tp, rep.fp, rep.tn, rep.fn) == (2, 1, 3, 1)
    assert rep.precision == pytest.approx(2 / 3)
    assert rep.recall == pytest.approx(2 / 3)
    assert rep.f1 == pytest.approx(2 / 3)
    # Positives 0.9, 0.8, 0.4 vs negatives 0.6, 0.3, 0.2, 0.1: only (0.4, 0.6) of 12 pairs
    # is misordered.
    assert rep.roc_auc == pytest.approx(11 / 12)
    # Ranking 0.9+, 0.8+, 0.6-, 0.4+: AP = (1 + 1 + 3/4) / 3.
    assert rep.pr_auc == pytest.approx((1 + 1 + 0.75) / 3)


def test_binary_report_strict_threshold() -> None:
    rep = binary_report(np.array([0, 1]), np.array([0.5, 0.7]), threshold=0.5)
    assert (rep.tp, rep.fp) == (1, 0)  # score equal to the threshold is not flagged


def test_binary_report_single_class_has_no_auc() -> None:
    rep = binary_report(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.9]), threshold=0.5)
    assert rep.roc_auc is None
    assert rep.pr_auc is None
    assert (rep.precision, rep.recall, rep.f1) == (0.0, 0.0, 0.0)
    assert rep.fp == 1


def test_binary_report_as_dict() -> None:
    rep = binary_report(np.array([0, 1]), np.array([0.1, 0.9]), threshold=0.5)
    d = rep.as_dict()
    assert d == {
        "roc_auc": 1.0,
        "pr_auc": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "tp": 1,
        "fp": 0,
        "tn": 1,
        "fn": 0,
    }
    assert isinstance(rep, BinaryReport)


def test_segments() -> None:
    assert segments(np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1])) == [(1, 3), (5, 6), (7, 10)]
    assert segments(np.array([1, 1])) == [(0, 2)]
    assert segments(np.array([0, 0])) == []
    assert segments(np.array([], dtype=int)) == []
    assert segments(np.array([True, False, True])) == [(0, 1), (2, 3)]


def test_point_adjusted_f1_hand_example() -> None:
    labels = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0])
    flags = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    # Segment (1, 4) is hit -> 3 TP; segment (6, 8) missed -> 2 FN; row 9 -> 1 FP.
    assert point_adjusted_f1(labels, flags) == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))


def test_point_adjusted_f1_perfect_and_empty() -> None:
    labels = np.array([0, 1, 1, 1, 0])
    assert point_adjusted_f1(labels, np.array([0, 0, 0, 1, 0])) == pytest.approx(1.0)
    assert point_adjusted_f1(labels, np.zeros(5, dtype=int)) == 0.0


def test_event_report_delays() -> None:
    labels = np.array([0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1])
    flags = np.array([1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0])
    # Events (1, 5): first flag at row 3 -> delay 2; (6, 8): missed; (9, 12): delay 0.
    rep = event_report(labels, flags)
    assert (rep.n_events, rep.detected, rep.mean_delay, rep.median_delay) == (3, 2, 1.0, 1.0)
    assert rep.recall == pytest.approx(2 / 3)


def test_event_report_nothing_detected() -> None:
    rep = event_report(np.array([0, 1, 1, 0]), np.array([1, 0, 0, 1]))
    assert rep == EventReport(
        n_events=1, detected=0, recall=0.0, mean_delay=None, median_delay=None
    )
    empty = event_report(np.zeros(3, dtype=int), np.zeros(3, dtype=int))
    assert (empty.n_events, empty.recall, empty.mean_delay) == (0, 0.0, None)


def test_skab_report() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    flags = np.array([0, 1, 0, 0, 0, 1, 1, 1, 0, 0])
    # TP 3, FP 1, FN 1, TN 5.
    rep = skab_report(labels, flags)
    assert isinstance(rep, SkabReport)
    assert rep.f1 == pytest.approx(3 / (3 + 1))
    assert rep.far == pytest.approx(100 * 1 / 6)
    assert rep.mar == pytest.approx(100 * 1 / 4)


@pytest.mark.parametrize(
    ("labels", "flags", "match"),
    [
        (np.array([0, 1, 2]), np.array([0, 1, 1]), "labels must contain only 0 and 1"),
        (np.array([0, 1, 1]), np.array([0, 1, -1]), "flags must contain only 0 and 1"),
        (np.array([0, 1, np.nan]), np.array([0, 1, 1]), "labels contain NaN"),
        (np.array([0, 1, 1]), np.array([0, 1]), "one flag per label"),
        (np.ones((2, 2)), np.ones((2, 2)), "1-D"),
    ],
)
def test_flag_metrics_validate(labels: np.ndarray, flags: np.ndarray, match: str) -> None:
    for fn in (point_adjusted_f1, event_report, skab_report):
        with pytest.raises(ValueError, match=match):
            fn(labels, flags)


def test_binary_report_validates() -> None:
    with pytest.raises(ValueError, match="one score per label"):
        binary_report(np.array([0, 1]), np.array([0.1, 0.2, 0.3]), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        binary_report(np.array([0, 1]), np.array([0.1, np.nan]), 0.5)
    with pytest.raises(ValueError, match="only 0 and 1"):
        binary_report(np.array([0, 3]), np.array([0.1, 0.2]), 0.5)
    with pytest.raises(ValueError, match="only 0 and 1"):
        segments(np.array([0, 5]))
