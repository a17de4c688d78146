"""A scored file on the dashboard: its check against the model, counts, slider, flagged rows.

Scored files (made by `anomaly score` or `anomaly batch`) keep the columns that name an item (id,
time and group columns; a log session's key, file, lines and times) and the score columns; the
inputs of an item are read back from the original file (`anomaly.analysis.items`).

Example:
    >>> import numpy as np
    >>> spec = slider_spec(np.array([0.1, 0.2, 0.3]), np.array([0.2, 5.0]), 0.25)
    >>> spec.lo, spec.value <= spec.hi
    (0.0, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly.errors import SchemaError
from anomaly.io import read_table
from anomaly.sidecar import fresh_sidecar

SCORE_COLUMNS = ("anomaly_score", "score_percentile", "is_anomaly", "top_features")
TABLE_ROWS = 1000  # flagged rows sent to the browser at most
SESSION_TIME = "first_time"  # scored log sessions: when a session starts
_TOP_SPLIT = re.compile(r"(?<=%),\s*")  # "a 71%, b, c 20%": split after each share only


# ------------------------------------------------------------------ the model's columns
def roles(meta: dict[str, Any]) -> dict[str, list[str]]:
    """Column names by role (feature, id, time, group, label) from a bundle's schema."""
    out: dict[str, list[str]] = {"feature": [], "id": [], "time": [], "group": [], "label": []}
    for col in meta.get("schema", {}).get("columns", []):
        out.setdefault(str(col.get("role")), []).append(str(col.get("name")))
    return out


def time_column(meta: dict[str, Any], columns: Iterable[object]) -> str | None:
    """The time column of a scored file with `columns`: the model's time column, else (log
    sessions) the time each session starts; None when it has neither.

    Example:
        >>> time_column({}, ["session", "first_time", "anomaly_score"])
        'first_time'
    """
    names = {str(c) for c in columns}
    found = [c for c in (*roles(meta)["time"], SESSION_TIME) if c in names]
    return found[0] if found else None


# --------------------------------------------------------------------- scored files
def read_scored(path: Path) -> pd.DataFrame:
    """A scored file as a frame: from its Parquet copy when `anomaly score` left a fresh one
    beside a CSV (`anomaly.sidecar`; several times faster on a million rows), else the file."""
    copy = fresh_sidecar(path)
    if copy is not None:
        try:
            frame: pd.DataFrame = pq.read_table(copy).to_pandas()
            return frame
        except (pa.ArrowException, OSError):
            pass  # an unreadable copy: the CSV itself is the truth
    return read_table(path)


def check_scored(frame: pd.DataFrame, meta: dict[str, Any], source: str) -> None:
    """Refuse a scored file that lacks score columns or was made by another model."""
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"{source}: no {', '.join(missing)} column(s) — this is not a scored "
                          "file; make one with `anomaly score MODEL FILE`")
    model = f"{meta.get('name')}@{meta.get('version')}"
    carried = [c for role in ("id", "time", "group") for c in roles(meta)[role]]
    absent = [c for c in carried if c not in frame.columns]
    if absent:
        raise SchemaError(f"{source}: column(s) {', '.join(absent)} of model {model} are missing "
                          "— the file was scored by another model; pick that model or rescore "
                          f"with `anomaly score {meta.get('name')} INPUT`")
    features = set(roles(meta)["feature"])
    sample = frame["top_features"].head(2000).dropna().astype(str).head(200)
    named = {_feature_name(part) for text in sample for part in _TOP_SPLIT.split(text)
             if part.strip()}
    foreign = sorted(named - features)
    if foreign:
        raise SchemaError(f"{source}: top_features name(s) {', '.join(foreign[:5])} that model "
                          f"{model} does not have — the file was scored by another model; pick "
                          f"that model or rescore with `anomaly score {meta.get('name')} INPUT`")
    if not pd.api.types.is_numeric_dtype(frame["anomaly_score"]):
        raise SchemaError(f"{source}: column anomaly_score is not numeric — rescore the file")


def _feature_name(part: str) -> str:
    """'amount 71%' → 'amount' (the format of `anomaly.core.scoring.top_features`)."""
    name, _, share = part.strip().rpartition(" ")
    return name if name and share.endswith("%") else part.strip()


@dataclass(frozen=True)
class Summary:
    """Headline numbers of a scored file at one threshold."""

    rows: int
    flagged: int

    @property
    def rate(self) -> float:
        return self.flagged / self.rows if self.rows else 0.0


def summarize(scores: np.ndarray, threshold: float) -> Summary:
    """Rows and rows flagged (``score > threshold``)."""
    return Summary(len(scores), int(np.count_nonzero(scores > threshold)))


@dataclass(frozen=True)
class SliderSpec:
    """A threshold slider: range, a round step, and the start value snapped onto the grid."""

    lo: float
    hi: float
    step: float
    value: float
    decimals: int

    @property
    def format(self) -> str:
        return f"%.{self.decimals}f"

    def snap(self, value: float) -> float:
        """`value` on the slider's grid, inside its range."""
        snapped = round(round(value / self.step) * self.step, self.decimals)
        return min(max(snapped, self.lo), self.hi)


def slider_spec(validation: np.ndarray, scores: np.ndarray, threshold: float,
                steps: int = 2000) -> SliderSpec:
    """Slider from 0 to twice the largest of: the threshold, the validation p99, the data's p95.

    The range ignores the extreme tails (one score of 10,000 would otherwise make every step
    coarse); method thresholds beyond it are clamped to its end.
    """
    tops = [threshold]
    for values, q in ((validation, 0.99), (scores, 0.95)):
        arr = np.asarray(values, float)
        arr = arr[np.isfinite(arr)]
        if len(arr):
            tops.append(float(np.quantile(arr, q)))
    span = max(*tops, 1e-9) * 2
    exponent = math.floor(math.log10(span / steps))
    step = 10.0 ** exponent
    decimals = max(0, -exponent)
    hi = round(math.ceil(span / step) * step, decimals)
    spec = SliderSpec(0.0, hi, step, 0.0, decimals)
    return SliderSpec(0.0, hi, step, spec.snap(threshold), decimals)


def flagged_rows(frame: pd.DataFrame, threshold: float, contains: str = "",
                 min_score: float | None = None, limit: int = TABLE_ROWS
                 ) -> tuple[pd.DataFrame, int]:
    """Flagged rows (highest scores first, at most `limit`) and how many matched in all."""
    scores = frame["anomaly_score"].to_numpy(dtype=np.float64, na_value=np.nan)
    mask = scores > threshold if min_score is None else scores > max(threshold, min_score)
    if contains.strip():
        idx = np.flatnonzero(mask)
        sub = frame["top_features"].iloc[idx].astype(str)
        hit = sub.str.contains(contains.strip(), case=False, regex=False).to_numpy()
        mask = np.zeros(len(frame), bool)
        mask[idx[hit]] = True
    idx = np.flatnonzero(mask)
    total = len(idx)
    if total > limit:
        idx = idx[np.argpartition(-scores[idx], limit - 1)[:limit]]
    rows = frame.iloc[idx].assign(row=idx + 1)
    rows = rows.sort_values("anomaly_score", ascending=False, kind="stable")
    return rows.drop(columns=["is_anomaly"], errors="ignore").reset_index(drop=True), total
