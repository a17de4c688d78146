"""Anomalies: summary, what-if threshold, flagged rows, score over time, drill-down of one row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from anomaly.analysis.scored import find_raw_row, flagged_rows, summarize, time_column
from anomaly.analysis.timeline import flagged_points, parse_times, score_over_time
from anomaly.errors import AnomalyError
from dashboards import charts, common

DRILL_ROWS = 200  # the highest-scoring flagged rows offered for the drill-down


@st.cache_data(show_spinner=False, max_entries=8)
def _binned(key: str, _times: pd.Series, _scores: np.ndarray) -> pd.DataFrame:
    return score_over_time(_times, _scores)


def page() -> None:
    st.title("Anomalies")
    ws = common.workspace()
    detector = common.pick_model(ws)
    scored = common.pick_scored(ws, detector)
    assert scored is not None
    scores = scored.scores
    frame = scored.frame
    in_file = int(frame["is_anomaly"].astype(bool).sum())

    spec = common.slider_spec(detector, scored)
    threshold = common.threshold_slider(
        spec, key=f"what_if:{scored.source}",
        label=f"Threshold (what-if; the model's is {detector.threshold_:.4g})")
    summary = summarize(scores, threshold)
    cols = st.columns(4)
    cols[0].metric("Rows", f"{summary.rows:,}")
    cols[1].metric("Flagged at this threshold", f"{summary.flagged:,}")
    cols[2].metric("Anomaly rate", f"{summary.rate:.2%}")
    cols[3].metric("Flagged in the file", f"{in_file:,}",
                   help="is_anomaly as written when the file was scored")

    time_col = time_column(detector.meta_)
    times = parse_times(frame[time_col]) if time_col and time_col in frame.columns else None
    if times is not None:
        st.subheader("Score over time")
        line = _binned(scored.key, times, scores)
        points = flagged_points(times, scores, threshold)
        st.altair_chart(charts.score_time(line, points, threshold),
                        width="stretch")
        st.caption(f"Binned into at most 600 time bins (median and maximum per bin); red: the "
                   f"{len(points):,} highest flagged rows; dashed: the threshold.")

    st.subheader("Flagged rows")
    left, right = st.columns(2)
    contains = left.text_input("Top features contain", key="contains")
    min_score = right.number_input("Minimum score", min_value=0.0, value=0.0, key="min_score")
    rows, total = flagged_rows(frame, threshold, contains, min_score or None)
    st.caption(f"{total:,} flagged row(s) match; the {len(rows):,} highest are shown — click a "
               "column header to sort.")
    st.dataframe(rows, width="stretch", hide_index=True, height=320)
    if rows.empty:
        return
    drill_down(ws, detector, scored, rows)


def drill_down(ws: Path, detector: Any, scored: common.Scored, rows: pd.DataFrame) -> None:
    """One flagged row: each feature's input vs reconstruction and its share of the error."""
    st.subheader("Why was this row flagged?")
    ids = common.id_columns(detector)
    rows = rows.head(DRILL_ROWS)
    label = [f"row {r}" + "".join(f" · {c}={v}" for c, v in zip(ids, vals, strict=True))
             for r, vals in zip(rows["row"], rows[ids].itertuples(index=False), strict=True)]
    pick = st.selectbox("Flagged row", range(len(rows)), format_func=lambda i: label[i],
                        key="drill_row")
    st.caption("Scored files keep only id/time columns, so the row's inputs are read from the "
               "original file (matched by id, or by row number when there is no id column).")
    chosen = common.pick_input(ws, scored)
    if chosen is None:
        st.info("Choose the original input file above to see this row's features.")
        return
    raw, source = chosen
    try:
        row = find_raw_row(raw, rows.iloc[pick], ids, source)
        explained = detector.explain_item(row, 0).table
    except AnomalyError as exc:
        st.error(str(exc))
        return
    left, right = st.columns([3, 2])
    right.altair_chart(charts.error_shares(explained), width="stretch")
    left.dataframe(explained.style.format({"error_share": "{:.1%}"}), hide_index=True,
                   width="stretch")


common.run(page)
