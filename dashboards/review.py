"""The review form of the Anomalies page: mark a flagged item confirmed or false alarm.

Marks go to the workspace's runs.db (`anomaly.jobs.feedback`); the page shows them in its table
of flagged items, `anomaly feedback MODEL` lists them, and threshold tuning can use them as
labels.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from anomaly.analysis.items import DrillPlan
from anomaly.analysis.review import VERDICT_TEXT, item_of, scored_name
from anomaly.jobs.feedback import VERDICTS, Mark, read_marks, save_mark
from dashboards import common


def user() -> str:
    """Who is using the dashboard (the account it runs under), for marks and thresholds."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def marks_of(ws: Path, detector: Any, scored: common.Scored) -> pd.DataFrame:
    """The marks of this model on this scored file (read anew on each rerun: a small table)."""
    name = scored_name(ws, scored.path, scored.source)
    return read_marks(ws, str(detector.meta_["name"]), name)


def review_form(ws: Path, detector: Any, plan: DrillPlan, scored: common.Scored,
                row: pd.Series, marks: pd.DataFrame) -> None:
    """Mark the chosen item; its current mark is shown above the form."""
    item = item_of(plan, row)
    mine = marks[marks["item"] == item] if not marks.empty else marks
    with st.form("review"):
        if mine.empty:
            st.write(f"**Review this {plan.item}**: is it a real anomaly?")
        else:
            last = mine.iloc[-1]
            note = f" — “{last['note']}”" if last["note"] else ""
            st.write(f"**Marked {VERDICT_TEXT[str(last['verdict'])]}** by {last['marked_by']} "
                     f"at {str(last['marked_at'])[:16]} UTC{note}. Mark it again to change it.")
        verdict = st.radio("Verdict", VERDICTS, format_func=lambda v: VERDICT_TEXT[v],
                           horizontal=True, key="review_verdict")
        note = st.text_input("Note (optional)", key="review_note",
                             placeholder="e.g. planned maintenance")
        saved = st.form_submit_button("Save mark", key="review_save")
    if not saved:
        return
    meta = detector.meta_
    save_mark(ws, Mark(model=str(meta["name"]), model_version=int(meta["version"]),
                       scored_file=scored_name(ws, scored.path, scored.source), item=item,
                       verdict=str(verdict), row=int(row["row"]) if "row" in row.index else None,
                       anomaly_score=float(row["anomaly_score"]), note=note.strip(),
                       marked_by=user()))
    st.rerun()
