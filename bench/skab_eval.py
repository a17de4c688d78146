"""Scoring a method on SKAB's test parts: pooled row metrics, ranking, events, cross-fitting.

Every method hands in, per file, the test-part labels, a row score and its flags (score > 1 after
dividing by the method's own threshold, so scores of different files are comparable when
pooled for ROC/PR). Two evaluations:

* all rows — every test row counts;
* published — SKAB's loop only flags rows 59 … len − 119 of a test part, so flags outside that
  range are dropped (the rows still count, as negatives predicted), as its numbers were made.

Events: runs of flags joined across gaps shorter than the method's window (60 rows for SKAB's
peers, the model's window for ours: `anomaly.kinds.timeseries.events`, the rule of the
`.events.csv` sidecar); event recall is the
share of labelled faults that an event overlaps, false events are events that overlap none,
per hour of test data (SKAB samples once a second).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from anomaly.core.metrics import segments, skab_report
from anomaly.kinds.timeseries.events import flag_runs

ROW_SECONDS = 1.0
STEPS = 60


@dataclass(frozen=True)
class FileResult:
    """One file's test part: labels, comparable row scores (> 1 = flagged) and flags."""

    name: str
    labels: np.ndarray
    scores: np.ndarray
    flags: np.ndarray
    gap: int = STEPS  # rows: flags closer than this are one event (the method's window)


@dataclass(frozen=True)
class Row:
    """One line of the dev table."""

    f1: float
    far: float
    mar: float
    pub_f1: float
    pub_far: float
    pub_mar: float
    roc: float
    pr: float
    event_recall: float
    false_events_h: float


def published(flags: np.ndarray) -> np.ndarray:
    """Flags SKAB's loop could have produced: rows 59 … len − 119 only."""
    out = np.zeros_like(flags)
    out[STEPS - 1:len(flags) - 2 * STEPS + 2] = flags[STEPS - 1:len(flags) - 2 * STEPS + 2]
    return out


def events(results: Sequence[FileResult]) -> tuple[float, float]:
    """Event recall and false events per hour, pooled over files."""
    found = total = false = 0
    for r in results:
        runs = flag_runs(r.flags, r.gap)
        truth = segments(r.labels)
        total += len(truth)
        found += sum(any(a <= e and s <= b for s, e in runs) for a, b in
                     ((a, b - 1) for a, b in truth))
        false += sum(not r.labels[s:e + 1].any() for s, e in runs)
    hours = sum(len(r.labels) for r in results) * ROW_SECONDS / 3600
    return found / max(total, 1), false / hours


def table_row(results: Sequence[FileResult]) -> Row:
    """Pooled metrics of one method over its files."""
    y = np.concatenate([r.labels for r in results])
    flags = np.concatenate([r.flags for r in results])
    pub = np.concatenate([published(r.flags) for r in results])
    s = np.concatenate([r.scores for r in results])
    a, b = skab_report(y, flags), skab_report(y, pub)
    recall, false_h = events(results)
    return Row(a.f1, a.far, a.mar, b.f1, b.far, b.mar, float(roc_auc_score(y, s)),
               float(average_precision_score(y, s)), recall, false_h)


def pick(candidates: Sequence[float], results: Callable[[float, Sequence[str]],
         Sequence[FileResult]], files: Sequence[str], max_far: float) -> float:
    """The candidate with the best pooled F1 at FAR ≤ `max_far` % on `files` (else lowest FAR)."""
    def key(value: float) -> tuple[bool, float]:
        chosen = results(value, files)
        rep = skab_report(np.concatenate([r.labels for r in chosen]),
                          np.concatenate([r.flags for r in chosen]))
        return (rep.far <= max_far, rep.f1 if rep.far <= max_far else -rep.far)

    return max(candidates, key=key)


def no_drop(candidates: Sequence[float], results: Callable[[float, Sequence[str]],
            Sequence[FileResult]], files: Sequence[str], tolerance: float) -> float:
    """The last candidate (the cheapest setting) that costs nothing measurable against the
    first on `files`, pooled: F1 and PR-AUC at most `tolerance` lower, FAR at most
    100 × `tolerance` points higher, false events per hour at most 20 × `tolerance` higher
    relatively (0.005: 0.005 F1, 0.5 points FAR, 10 % more false events)."""
    first = table_row(results(candidates[0], files))
    kept = [value for value in candidates
            if (row := table_row(results(value, files))).f1 >= first.f1 - tolerance
            and row.pr >= first.pr - tolerance and row.far <= first.far + 100 * tolerance
            and row.false_events_h <= first.false_events_h * (1 + 20 * tolerance)]
    return kept[-1]


Chooser = Callable[[Sequence[float], Callable[[float, Sequence[str]], Sequence[FileResult]],
                    Sequence[str]], float]


def cross_fit(candidates: Sequence[float], results: Callable[[float, Sequence[str]],
              Sequence[FileResult]], files: Sequence[str], choose: Chooser
              ) -> tuple[list[FileResult], list[float]]:
    """Choose on one half of the files (`choose(candidates, results, half)`, e.g. `pick` or
    `no_drop`), score the other half, swap, pool (halves: alternate files)."""
    halves = [list(files[0::2]), list(files[1::2])]
    pooled: list[FileResult] = []
    chosen: list[float] = []
    for fit_on, score_on in (halves, halves[::-1]):
        value = choose(candidates, results, fit_on)
        chosen.append(value)
        pooled += results(value, score_on)
    return pooled, chosen
