"""Anomalies: summary, what-if threshold, flagged items, score over time, drill-down of one item.

An item is what one score is for: a row (tabular), a timestamp (time series), a session (logs);
`anomaly.analysis.items.drill_plan` says how each is named and found in its input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from anomaly.analysis.explained import RAW_LINES, explanation_summary, raw_lines_text, readable
from anomaly.analysis.items import DrillPlan, drill_plan, item_label
from anomaly.analysis.review import with_reviews
from anomaly.analysis.scored import flagged_rows, summarize
from anomaly.analysis.timeline import flagged_points, score_over_time
from anomaly.errors import AnomalyError
from dashboards import charts, common, review

DRILL_ROWS = 200  # the highest-scoring flagged items offered for the drill-down
LONG_NAME = 40  # feature names longer than this (log templates) get the page's full width


@st.cache_data(show_spinner=False, max_entries=8)
def _binned(key: str, _times: pd.Series, _scores: np.ndarray) -> pd.DataFrame:
    return score_over_time(_times, _scores)


def page() -> None:
    st.title("Anomalies")
    ws = common.workspace()
    detector = common.pick_model(ws)
    scored = common.pick_scored(ws, detector)
    assert scored is not None
    plan = drill_plan(detector)
    items = plan.plural
    scores = scored.scores
    frame = scored.frame
    in_file = int(frame["is_anomaly"].astype(bool).sum())

    spec = common.slider_spec(detector, scored)
    threshold = common.threshold_slider(
        spec, key=f"what_if:{scored.source}",
        label=f"Threshold (what-if; the model's is {detector.threshold_:.4g})")
    summary = summarize(scores, threshold)
    cols = st.columns(4)
    cols[0].metric(items.capitalize(), f"{summary.rows:,}")
    cols[1].metric("Flagged at this threshold", f"{summary.flagged:,}")
    cols[2].metric("Anomaly rate", f"{summary.rate:.2%}")
    cols[3].metric("Flagged in the file", f"{in_file:,}",
                   help="is_anomaly as written when the file was scored")

    times = common.scored_times(detector, scored)
    if times is not None:
        st.subheader("Score over time")
        line = _binned(scored.key, times, scores)
        points = flagged_points(times, scores, threshold)
        st.altair_chart(charts.score_time(line, points, threshold),
                        width="stretch")
        st.caption(f"Binned into at most 600 time bins (median and maximum per bin); red: the "
                   f"{len(points):,} highest flagged {items}; dashed: the threshold.")

    st.subheader(f"Flagged {items}")
    left, right = st.columns(2)
    contains = left.text_input("Top features contain", key="contains")
    min_score = right.number_input("Minimum score", min_value=0.0, value=0.0, key="min_score")
    rows, total = flagged_rows(frame, threshold, contains, min_score or None)
    marks = review.marks_of(ws, detector, scored)
    rows = with_reviews(rows, plan, marks)
    reviewed = f"; {len(marks):,} reviewed (column review)" if len(marks) else ""
    st.caption(f"{total:,} flagged {plan.item}(s) match; the {len(rows):,} highest are shown — "
               f"click a column header to sort{reviewed}.")
    st.dataframe(rows, width="stretch", hide_index=True, height=min(320, 35 * (len(rows) + 1) + 3))
    if rows.empty:
        return
    drill_down(ws, detector, plan, scored, rows, marks)


def drill_down(ws: Path, detector: Any, plan: DrillPlan, scored: common.Scored,
               rows: pd.DataFrame, marks: pd.DataFrame) -> None:
    """One flagged item: the analyst's review of it, and the item read back from its input
    and explained in its context: each feature's share of the error (a session's templates),
    and a session's raw lines."""
    st.subheader(f"Why was this {plan.item} flagged?")
    rows = rows.head(DRILL_ROWS)
    labels = [item_label(plan, row) for _, row in rows.iterrows()]
    pick = st.selectbox(f"Flagged {plan.item}", range(len(rows)), format_func=lambda i: labels[i],
                        key="drill_row")
    row = rows.iloc[[pick]]
    review.review_form(ws, detector, plan, scored, row.iloc[0], marks)
    st.caption(plan.caption)
    chosen = common.pick_item_input(ws, plan, scored, row.iloc[0])
    if chosen is None:
        st.info(f"Choose the original input file above (the workspace's "
                f"{', '.join(plan.patterns)} files) to see why this {plan.item} was flagged.")
        return
    try:
        found = common.locate_item(detector, plan, row, chosen)
        explained = common.explain_item(detector, plan, row, chosen, found)
    except AnomalyError as exc:
        st.error(str(exc))
        return
    table = explained.table
    st.markdown(explanation_summary(explained.score, table, detector.threshold_))
    shown = readable(table)
    formats = {c: "{:.6g}" for c in shown.select_dtypes("float").columns}
    styled = shown.style.format({**formats, "error_share": "{:.1%}"})
    if shown["feature"].astype(str).str.len().max() > LONG_NAME:  # log templates: one under
        st.dataframe(styled, hide_index=True, width="stretch")  # the other, each full width
        st.altair_chart(charts.error_shares(table), width="stretch")
    else:
        left, right = st.columns([3, 2])
        right.altair_chart(charts.error_shares(table), width="stretch")
        left.dataframe(styled, hide_index=True, width="stretch")
    if explained.window is not None and len(explained.window):
        st.caption(f"The window ending at this {plan.item}: each sensor's reading (input) and "
                   "what the network rebuilt from the window (reconstruction), largest error "
                   "share first. Where the two lines part, the sensor carries the error.")
        st.altair_chart(charts.window_lines(explained.window, table["feature"].tolist()))
    if found.lines:
        shown = min(len(found.lines), RAW_LINES)
        st.caption(f"The {plan.item}'s raw lines in {found.source}, each after its line "
                   f"number: the first {shown:,} of {len(found.lines):,}.")
        st.code(raw_lines_text(found.lines), language=None, wrap_lines=True)


common.run(page)
