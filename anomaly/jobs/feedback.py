"""Analyst feedback: a flagged item marked *confirmed* or *false alarm*, kept in the workspace.

Marks live in `<workspace>/runs.db` (table `feedback`, made by the ledger's migrations), one
per (model, scored file, item): marking an item again replaces its mark. An item is named by its
key columns in the scored file (ids; time and group; a session key) or by its row number, as
JSON. Each mark keeps the item's score and the model version that made it, so that the marks
can serve as labels when the threshold is tuned (`labels_from_marks`, `f1_from_marks`): scores
of another model version are not comparable and are left out there.

Example:
    >>> item_key({"row_id": "r7"})
    '{"row_id": "r7"}'
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly.clock import now
from anomaly.core.thresholds import ThresholdChoice
from anomaly.errors import InputError
from anomaly.jobs.ledger import TIMESPEC, Ledger, connect_readonly

CONFIRMED, FALSE_ALARM = "confirmed", "false_alarm"
VERDICTS = (CONFIRMED, FALSE_ALARM)

def item_key(keys: dict[str, Any]) -> str:
    """The stored name of an item: its key columns (or row number) as sorted JSON."""
    return json.dumps({str(k): _plain(v) for k, v in sorted(keys.items())}, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Mark:
    """One analyst's verdict on one flagged item."""

    model: str
    model_version: int
    scored_file: str
    item: str
    verdict: str
    row: int | None = None
    anomaly_score: float | None = None
    note: str = ""
    marked_by: str = ""


def save_mark(workspace: Path, mark: Mark) -> None:
    """Store a mark (replacing an earlier one of the same item); `InputError` on a bad verdict."""
    if mark.verdict not in VERDICTS:
        raise InputError(f"verdict {mark.verdict!r}: use {' or '.join(VERDICTS)}")
    values = {**asdict(mark), "marked_at": now(TIMESPEC)}
    columns = ", ".join(values)
    updates = ", ".join(f"{c} = excluded.{c}" for c in values
                        if c not in ("model", "scored_file", "item"))
    with Ledger(workspace) as ledger, ledger.db:
        ledger.db.execute(
            f"INSERT INTO feedback ({columns}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (model, scored_file, item) DO UPDATE SET {updates}",
            tuple(values.values()))


MARK_COLUMNS = ["model", "model_version", "scored_file", "item", "row", "anomaly_score",
                "verdict", "note", "marked_by", "marked_at"]


def read_marks(workspace: Path, model: str | None = None, scored_file: str | None = None
               ) -> pd.DataFrame:
    """Marks, oldest first (optionally of one model and one scored file); empty when none."""
    db = connect_readonly(workspace)
    if db is None:
        return pd.DataFrame(columns=MARK_COLUMNS)
    query, params = f"SELECT {', '.join(MARK_COLUMNS)} FROM feedback WHERE 1 = 1", []
    if model is not None:
        query += " AND model = ?"
        params.append(model)
    if scored_file is not None:
        query += " AND scored_file = ?"
        params.append(scored_file)
    try:
        return pd.read_sql_query(query + " ORDER BY marked_at, id", db, params=params)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        if "no such table" in str(exc):
            return pd.DataFrame(columns=MARK_COLUMNS)
        raise InputError(f"{workspace / 'runs.db'}: cannot read analyst feedback ({exc})"
                         ) from exc
    finally:
        db.close()


def labels_from_marks(marks: pd.DataFrame, model_version: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Scores and 0/1 labels (confirmed = 1, false alarm = 0) of the marked items of one model
    version: scores of another version are not comparable.

    Example:
        >>> marks = pd.DataFrame({"model_version": [1, 1, 2], "anomaly_score": [5.0, 2.0, 9.0],
        ...                       "verdict": ["confirmed", "false_alarm", "confirmed"]})
        >>> scores, labels = labels_from_marks(marks, 1)
        >>> scores.tolist(), labels.tolist()
        ([5.0, 2.0], [1, 0])
    """
    own = marks[(marks["model_version"] == model_version) & marks["anomaly_score"].notna()]
    if not (own["verdict"] == CONFIRMED).any():
        raise InputError(f"no item of model version {model_version} is marked confirmed — "
                         "mark flagged items on the dashboard's Anomalies page first (F1 needs "
                         "at least one confirmed anomaly)")
    return own["anomaly_score"].to_numpy(float), (own["verdict"] == CONFIRMED).to_numpy(int)


def f1_from_marks(scores: np.ndarray, labels: np.ndarray, current: float) -> ThresholdChoice:
    """The best-F1 threshold over reviewed items, as near the current threshold as they allow.

    Reviewed items are a few of the flagged ones, so F1 over them cannot tell thresholds
    between two reviewed scores apart, nor see the unreviewed flags. Among the thresholds with
    the best F1 this takes the one nearest to `current`: the current one when the marks agree
    with it; else the lowest threshold that drops the false alarms it must (raising), or just
    below the confirmed items it must catch (lowering) — never further than the marks justify.

    Example:
        >>> labels = np.array([1, 1, 0, 0])
        >>> f1_from_marks(np.array([9.0, 8.0, 3.0, 2.5]), labels, 2.0).value  # drop 2 false
        3.0
        >>> f1_from_marks(np.array([9.0, 8.0, 3.0, 2.5]), np.ones(4), 2.0).value  # agree
        2.0
    """
    s, y = np.asarray(scores, float), np.asarray(labels, int)
    cuts = np.unique(s)  # threshold candidate j: flag score > cuts[j-1] (j = 0: flag all)
    flags = s[None, :] > np.concatenate([[-np.inf], cuts])[:, None]
    tp = (flags & (y == 1)).sum(axis=1)
    flagged, positives = flags.sum(axis=1), max(int(y.sum()), 1)
    f1 = np.where(flagged > 0, 2 * tp / np.maximum(flagged + positives, 1), 0.0)
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    here = int(np.searchsorted(cuts, current, side="right"))  # the candidate `current` is in
    pick = int(best[np.argmin(np.abs(best - here))])
    if pick == here:
        value = float(current)
    elif pick > here:
        value = float(cuts[pick - 1])
    else:
        value = math.nextafter(float(cuts[pick]), -math.inf)
    return ThresholdChoice("f1", {"f1": float(f1[pick]), "reviewed": float(len(s))}, value)


def reviewed_precision(marks: pd.DataFrame, threshold: float) -> tuple[float | None, int]:
    """Share of reviewed items above `threshold` that were confirmed, and how many those are.

    Example:
        >>> marks = pd.DataFrame({"anomaly_score": [5.0, 2.0, 3.0],
        ...                       "verdict": ["confirmed", "false_alarm", "confirmed"]})
        >>> reviewed_precision(marks, 2.5)
        (1.0, 2)
    """
    above = marks[marks["anomaly_score"] > threshold]
    if above.empty:
        return None, 0
    return float((above["verdict"] == CONFIRMED).mean()), len(above)
