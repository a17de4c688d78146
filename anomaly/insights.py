"""Pure analyses the dashboard shows: training diagnostics, threshold what-ifs, run ledger, drift.

Drift signal (Monitoring page). The run ledger keeps, per scored file, the score quantiles p50,
p90 and p99 (and the maximum). The validation-normal scores of the model cut the score axis into
four bins at their own p50, p90 and p99, so that normal data falls into them with shares
50 %, 40 %, 9 % and 1 %. For recent files we estimate their shares in the same bins by
interpolating each file's distribution function linearly through its ledger quantiles
((min 0), (p50, .5), (p90, .9), (p99, .99), (max, 1)), weighted by rows. Two numbers follow:

* **share above the validation p99** — expected 1 %; a few times more means scores moved up;
* **PSI** (population stability index) over the four bins: < 0.1 stable, 0.1–0.25 moderate
  shift, > 0.25 major shift (the usual reading of PSI).

Example:
    >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly.core.metrics import BinaryReport, binary_report
from anomaly.errors import InputError

EXPECTED_SHARES = np.array([0.50, 0.40, 0.09, 0.01])
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
TAIL_ALERT = 3.0  # share above the validation p99 at 3x its expected 1 % raises a warning


# ------------------------------------------------------------------------- training
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
        if rise > 0.10 and train[-1] < train[best]:
            findings.append(Finding(
                "warning", f"overfitting: validation loss rose {rise:.0%} above its minimum "
                f"(epoch {best + 1}) while training loss kept falling — early stopping kept "
                f"epoch {best + 1}; add data, --dropout, --weight-decay or a smaller --hidden"))
    drop = 1 - train[best] / max(train[0], 1e-12) if len(train) > 1 else 0.0
    if len(train) < 2 or drop < 0.05:
        findings.append(Finding(
            "warning", f"stalled training: loss fell only {drop:.1%} — raise --lr, train longer "
            "(--epochs) or check that the features vary"))
    if val[-1] > 2 * train[-1] > 0:
        findings.append(Finding(
            "warning", f"validation loss ({val[-1]:.4g}) is over twice the training loss "
                       f"({train[-1]:.4g}) — the model may not generalise to new normal data"))
    if not findings:
        findings.append(Finding("ok", f"loss fell {drop:.0%}; validation follows training "
                                      "(no sign of overfitting)"))
    return findings


# ------------------------------------------------------------------------ thresholds
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
    """Live counts for one threshold (labels give precision, recall, F1 and the confusion)."""
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
    """Shared-bin histograms (share of each series per bin); the top 0.1 % goes to the last bin."""
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
    """Precision-recall curve, thinned to at most `points` points."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(labels, scores)
    frame = pd.DataFrame({"recall": recall[:-1], "precision": precision[:-1], "threshold": cuts})
    if len(frame) > points:
        frame = frame.iloc[np.linspace(0, len(frame) - 1, points).round().astype(int)]
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------- run ledger
@dataclass(frozen=True)
class Ledger:
    """The run ledger's tables (empty frames when there is no runs.db yet)."""

    runs: pd.DataFrame
    files: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.files.empty and self.runs.empty


def read_ledger(path: Path) -> Ledger:
    """Read runs.db read-only; a missing file means no runs yet. Corrupt → `InputError`."""
    if not path.exists():
        return Ledger(pd.DataFrame(), pd.DataFrame())
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            runs = (pd.read_sql_query("SELECT * FROM runs ORDER BY started_at", conn)
                    if "runs" in tables else pd.DataFrame())
            files = (pd.read_sql_query("SELECT * FROM files ORDER BY started_at", conn)
                     if "files" in tables else pd.DataFrame())
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise InputError(f"{path}: cannot be read as the run ledger ({exc}) — move it aside; "
                         "`anomaly batch` starts a new one") from exc
    for frame in (runs, files):
        for col in ("started_at", "finished_at"):
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col], errors="coerce", utc=True)
    return Ledger(runs, files)


# ---------------------------------------------------------------------------- drift
@dataclass(frozen=True)
class Drift:
    """Recent score distribution vs the validation normals (see the module docstring)."""

    files: int
    rows: int
    share_above_p99: float
    psi: float

    @property
    def level(self) -> str:
        if self.psi > PSI_MAJOR or self.share_above_p99 > TAIL_ALERT * 2 * 0.01:
            return "major"
        if self.psi > PSI_MODERATE or self.share_above_p99 > TAIL_ALERT * 0.01:
            return "moderate"
        return "stable"


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index Σ (a − e)·ln(a / e) over matching bins."""
    e = np.clip(np.asarray(expected, float), floor, None)
    a = np.clip(np.asarray(actual, float), floor, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _cdf_at(points: dict[str, float], x: np.ndarray) -> np.ndarray:
    """A file's distribution function at x, linear through its ledger quantiles."""
    qs = [(0.0, 0.0), (points["p50"], 0.5), (points["p90"], 0.9), (points["p99"], 0.99),
          (points["max"], 1.0)]
    xs = np.maximum.accumulate(np.array([q[0] for q in qs]))
    ys = np.array([q[1] for q in qs])
    out: np.ndarray = np.interp(x, xs, ys, left=0.0, right=1.0)
    return out


def quantile_drift(files: pd.DataFrame, validation: np.ndarray) -> Drift | None:
    """Drift of the scores of `files` (ledger rows with p50/p90/p99/max) vs validation normals."""
    cols = ["score_p50", "score_p90", "score_p99", "score_max", "rows"]
    usable = files.dropna(subset=cols) if set(cols) <= set(files.columns) else files.iloc[:0]
    usable = usable[usable["rows"] > 0]
    if usable.empty or not len(validation):
        return None
    cuts = np.quantile(validation, [0.5, 0.9, 0.99])
    cdf = np.zeros(3)
    for _, row in usable.iterrows():
        points = {"p50": row["score_p50"], "p90": row["score_p90"], "p99": row["score_p99"],
                  "max": row["score_max"]}
        cdf += row["rows"] * _cdf_at(points, cuts)
    cdf /= usable["rows"].sum()
    shares = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    return Drift(len(usable), int(usable["rows"].sum()), float(1 - cdf[2]),
                 psi(EXPECTED_SHARES, shares))


def runs_summary(files: pd.DataFrame) -> dict[str, Any]:
    """Counts for the Monitoring headline: files ok / failed, rows, anomalies."""
    if files.empty:
        return {"files": 0, "failed": 0, "rows": 0, "anomalies": 0}
    status = files.get("status", pd.Series(dtype=str))
    return {"files": len(files), "failed": int((status == "failed").sum()),
            "rows": int(files.get("rows", pd.Series(dtype=float)).fillna(0).sum()),
            "anomalies": int(files.get("anomalies", pd.Series(dtype=float)).fillna(0).sum())}
