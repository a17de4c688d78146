"""A model's health in words: does it need a new threshold or a retrain, and by which command.

Two stated limits (the Monitoring page and the `anomaly_model_attention` metric read the same):

* **drift** — each of the model's last `DRIFT_FILES` scored files has a PSI above `DRIFT_PSI`
  against the validation normals (the PSI of `anomaly.analysis.monitoring`, file by file): the
  data moved away from what the model learned, so retrain it on recent normal data;
* **false alarms** — of the last `RECENT_MARKS` reviewed flags that still count (items of the
  model version in use that its threshold still flags; at least `MIN_MARKS`), more than
  `FALSE_ALARM_SHARE` were marked *false alarm*: recalibrate the threshold on the marks.

Example:
    >>> Health("toy", [0.3, 0.4, 0.5], 10, 2).reasons
    ['drift']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from anomaly.analysis.monitoring import PSI_MAJOR, quantile_drift

DRIFT_PSI = PSI_MAJOR  # 0.25: a major shift
DRIFT_FILES = 3
FALSE_ALARM_SHARE = 0.5
MIN_MARKS = 5
RECENT_MARKS = 50
REASONS = ("drift", "false_alarms")


@dataclass(frozen=True)
class Health:
    """What the limits say about one model.

    Attributes:
        model: the model's name.
        file_psi: PSI of its most recent scored files (at most `DRIFT_FILES`), oldest first.
        marks: reviewed flags counted (the most recent `RECENT_MARKS`).
        false_alarms: how many of those were marked false alarms.
    """

    model: str
    file_psi: list[float]
    marks: int = 0
    false_alarms: int = 0

    @property
    def drifting(self) -> bool:
        return len(self.file_psi) >= DRIFT_FILES and min(self.file_psi) > DRIFT_PSI

    @property
    def false_alarm_share(self) -> float | None:
        return self.false_alarms / self.marks if self.marks else None

    @property
    def noisy(self) -> bool:
        share = self.false_alarm_share
        return self.marks >= MIN_MARKS and share is not None and share > FALSE_ALARM_SHARE

    @property
    def reasons(self) -> list[str]:
        """The limits passed: "drift", "false_alarms" (empty when healthy)."""
        return [r for r, hit in zip(REASONS, (self.drifting, self.noisy), strict=True) if hit]

    def advice(self) -> list[str]:
        """One sentence per limit passed, each with the command to run (markdown code)."""
        out = []
        if self.drifting:
            psis = ", ".join(f"{p:.2f}" for p in self.file_psi)
            out.append(f"**{self.model}** has drifted: its last {len(self.file_psi)} scored "
                       f"files each have a PSI above {DRIFT_PSI} ({psis}) — the data moved away "
                       "from what the model learned. Retrain it on recent normal data with the "
                       "options it was trained with (`anomaly info "
                       f"{self.model}`): `anomaly train RECENT_NORMAL.csv --name {self.model}`.")
        if self.noisy:
            share = self.false_alarm_share or 0.0
            out.append(f"**{self.model}** raises too many false alarms: {self.false_alarms} of "
                       f"its last {self.marks} reviewed flags ({share:.0%}, limit "
                       f"{FALSE_ALARM_SHARE:.0%}) were marked false alarm. Recalibrate the "
                       "threshold on the marks: "
                       f"`anomaly threshold {self.model} --method f1 --from-feedback`.")
        return out


def recent_file_psi(files: pd.DataFrame, validation: np.ndarray,
                    count: int = DRIFT_FILES) -> list[float]:
    """PSI of each of the last `count` ok files (ledger rows), oldest first."""
    if files.empty or "status" not in files.columns:
        return []
    ok = files[(files["status"] == "ok") & files["score_max"].notna() & (files["rows"] > 0)]
    ok = ok.sort_values("started_at", kind="stable").tail(count)
    out = []
    for i in range(len(ok)):
        drift = quantile_drift(ok.iloc[[i]], validation)
        if drift is not None:
            out.append(drift.psi)
    return out


@dataclass(frozen=True)
class Reference:
    """What a model in use is judged against: its validation normals, version and threshold."""

    validation: np.ndarray
    model_version: int
    threshold: float

    @classmethod
    def of(cls, detector: Any) -> Reference:
        """The reference of a loaded detector."""
        return cls(np.asarray(detector.validation_scores_, float),
                   int(detector.meta_["version"]), float(detector.threshold_))


def live_verdicts(marks: pd.DataFrame, reference: Reference) -> list[str]:
    """Verdicts of the marks that still count, oldest first: items of the model version in
    use that its threshold still flags (a recalibrated threshold retires the marks it fixed)."""
    if marks.empty:
        return []
    live = marks[(marks["model_version"] == reference.model_version)
                 & (marks["anomaly_score"] > reference.threshold)]
    return [str(v) for v in live["verdict"]]


def assess(model: str, files: pd.DataFrame, reference: Reference,
           marks: pd.DataFrame | None = None) -> Health:
    """The health of `model` from its ledger rows and its marks (`anomaly.jobs.feedback`)."""
    recent = live_verdicts(marks if marks is not None else pd.DataFrame(), reference)
    recent = recent[-RECENT_MARKS:]
    return Health(model, recent_file_psi(files, reference.validation), len(recent),
                  sum(v == "false_alarm" for v in recent))
