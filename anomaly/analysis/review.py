"""Analyst review on the Anomalies page: which item a mark is for, and marks beside the flags.

Marks themselves are stored by `anomaly.jobs.feedback`; here is only how the page names a
scored file and an item, and how it shows the marks in its table of flagged items.

Example:
    >>> from anomaly.analysis.items import DrillPlan
    >>> plan = DrillPlan("row", ("*.csv",), ("row_id",))
    >>> item_of(plan, pd.Series({"row": 3, "row_id": "r7", "anomaly_score": 2.0}))
    '{"row_id": "r7"}'
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from anomaly.analysis.items import ROW_NUMBER, DrillPlan
from anomaly.jobs.feedback import item_key

VERDICT_TEXT = {"confirmed": "confirmed", "false_alarm": "false alarm"}
REVIEW_COLUMN = "review"


def item_of(plan: DrillPlan, row: pd.Series) -> str:
    """The stored name of a flagged item: its key columns, else its row number."""
    names = plan.keys or (ROW_NUMBER,)
    return item_key({c: row[c] for c in names if c in row.index})


def scored_name(workspace: Path, path: Path | None, source: str) -> str:
    """How marks name a scored file: its path inside the workspace, else the upload's name.

    Example:
        >>> scored_name(Path("/ws"), Path("/ws/scores/a.scored.csv"), "a.scored.csv")
        'scores/a.scored.csv'
    """
    if path is not None and path.is_relative_to(workspace):
        return path.relative_to(workspace).as_posix()
    return source


def with_reviews(rows: pd.DataFrame, plan: DrillPlan, marks: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows with a `review` column (verdict and note) when any of them is marked.

    Example:
        >>> plan = DrillPlan("row", ("*.csv",), ("row_id",))
        >>> rows = pd.DataFrame({"row_id": ["a", "b"], "anomaly_score": [3.0, 2.0]})
        >>> marks = pd.DataFrame({"item": ['{"row_id": "b"}'], "verdict": ["false_alarm"],
        ...                       "note": ["sensor test"]})
        >>> with_reviews(rows, plan, marks)["review"].tolist()
        ['', 'false alarm: sensor test']
    """
    if marks.empty or rows.empty:
        return rows
    text = {str(m["item"]): VERDICT_TEXT.get(str(m["verdict"]), str(m["verdict"]))
            + (f": {m['note']}" if m["note"] else "")
            for m in marks.to_dict("records")}
    reviews = [text.get(item_of(plan, row), "") for _, row in rows.iterrows()]
    if not any(reviews):
        return rows
    return rows.assign(**{REVIEW_COLUMN: reviews})
