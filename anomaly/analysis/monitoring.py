"""The run ledger as the Monitoring page reads it, its headline counts, and the drift signal.

`anomaly.jobs.ledger.Ledger` writes runs.db; here it is only read (read-only, never locked), as
a `RunHistory` of pandas frames.

Drift signal (Monitoring page). The run ledger keeps, per scored file, the score quantiles p50,
p90 and p99 (and the maximum). The validation-normal scores of the model cut the score axis into
four bins at their own p50, p90 and p99, so that normal data falls into them with shares
50 %, 40 %, 9 % and 1 %. For recent files we estimate their shares in the same bins by
interpolating each file's distribution function linearly through its ledger quantiles
((min 0), (p50, .5), (p90, .9), (p99, .99), (max, 1)), weighted by rows. The validation shares
are estimated the same way from the validation quantiles: 50/40/9/1 % for continuous scores, and
what they really are when scores tie (a log model's sessions often score alike, so that p90 =
p99 = max), so that data like the validation normals always reads as stable. Two numbers follow:

* **share above the validation p99** — expected about 1 % (the validation's own share); a few
  times more means scores moved up;
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

from anomaly.errors import InputError

QUANTILES = (0.5, 0.9, 0.99)
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
TAIL_ALERT = 3.0  # share above the validation p99 at 3x its expected 1 % raises a warning
MIN_TAIL = 0.01  # the tail share alerts are measured against at least this


# ---------------------------------------------------------------------- run ledger
@dataclass(frozen=True)
class RunHistory:
    """The run ledger's tables as frames (empty when there is no runs.db yet).

    Attributes:
        runs: one row per batch run (``runs`` table).
        files: one row per scored file (``files`` table), oldest first.
    """

    runs: pd.DataFrame
    files: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.files.empty and self.runs.empty


def read_run_history(path: Path) -> RunHistory:
    """Read runs.db read-only; a missing file means no runs yet. Corrupt → `InputError`.

    Times (``started_at``, ``finished_at``) become tz-aware UTC datetimes.

    Example:
        >>> read_run_history(Path("/nonexistent/runs.db")).empty
        True
    """
    if not path.exists():
        return RunHistory(pd.DataFrame(), pd.DataFrame())
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
                frame[col] = pd.to_datetime(frame[col], errors="coerce", utc=True,
                                            format="ISO8601")
    return RunHistory(runs, files)


# ---------------------------------------------------------------------------- drift
@dataclass(frozen=True)
class Drift:
    """Recent score distribution vs the validation normals (see the module docstring)."""

    files: int
    rows: int
    share_above_p99: float
    psi: float
    expected_above_p99: float = 0.01  # the validation normals' own share (estimated alike)

    @property
    def level(self) -> str:
        tail = max(self.expected_above_p99, MIN_TAIL)
        if self.psi > PSI_MAJOR or self.share_above_p99 > TAIL_ALERT * 2 * tail:
            return "major"
        if self.psi > PSI_MODERATE or self.share_above_p99 > TAIL_ALERT * tail:
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
    # tied quantiles (a step in the scores): P(score <= x) there is the highest of their shares
    last = np.append(xs[1:] != xs[:-1], True)
    out: np.ndarray = np.interp(x, xs[last], ys[last], left=0.0, right=1.0)
    return out


def _shares(cdf: np.ndarray) -> np.ndarray:
    """Shares of the four bins from the distribution function at the three cuts."""
    shares: np.ndarray = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    return shares


def quantile_drift(files: pd.DataFrame, validation: np.ndarray) -> Drift | None:
    """Drift of the scores of `files` (ledger rows with p50/p90/p99/max) vs validation normals."""
    cols = ["score_p50", "score_p90", "score_p99", "score_max", "rows"]
    usable = files.dropna(subset=cols) if set(cols) <= set(files.columns) else files.iloc[:0]
    usable = usable[usable["rows"] > 0]
    if usable.empty or not len(validation):
        return None
    cuts = np.quantile(validation, QUANTILES)
    own = dict(zip(("p50", "p90", "p99"), cuts, strict=True))
    expected = _cdf_at({**own, "max": float(np.max(validation))}, cuts)
    cdf = np.zeros(3)
    for _, row in usable.iterrows():
        points = {"p50": row["score_p50"], "p90": row["score_p90"], "p99": row["score_p99"],
                  "max": row["score_max"]}
        cdf += row["rows"] * _cdf_at(points, cuts)
    cdf /= usable["rows"].sum()
    return Drift(len(usable), int(usable["rows"].sum()), float(1 - cdf[2]),
                 psi(_shares(expected), _shares(cdf)), float(1 - expected[2]))


def runs_summary(files: pd.DataFrame) -> dict[str, Any]:
    """Counts for the Monitoring headline: files ok / failed, rows, anomalies."""
    if files.empty:
        return {"files": 0, "failed": 0, "rows": 0, "anomalies": 0}
    status = files.get("status", pd.Series(dtype=str))
    return {"files": len(files), "failed": int((status == "failed").sum()),
            "rows": int(files.get("rows", pd.Series(dtype=float)).fillna(0).sum()),
            "anomalies": int(files.get("anomalies", pd.Series(dtype=float)).fillna(0).sum())}
