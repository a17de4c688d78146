"""Threshold tuning: histograms, a slider and a method picker, live counts, save a new version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from anomaly.analysis.items import DrillPlan, drill_plan, label_guess, labels_for
from anomaly.analysis.scored import SliderSpec, roles
from anomaly.analysis.threshold import (
    histogram,
    picker_methods,
    pr_curve,
    starting_params,
    threshold_stats,
)
from anomaly.core.labels import check_labels
from anomaly.core.thresholds import METHODS, ThresholdChoice, choose_threshold
from anomaly.errors import AnomalyError
from anomaly.jobs.feedback import (
    CONFIRMED,
    f1_from_marks,
    labels_from_marks,
    read_marks,
    reviewed_precision,
)
from dashboards import charts, common, review

# The number box of each method parameter: (lowest, highest, display format). Starting values
# come from anomaly.core.thresholds.METHODS.
PARAM_INPUTS: dict[str, tuple[float, float, str]] = {
    "q": (0.5, 0.99999, "%.5f"), "k": (0.5, 20.0, "%.2f"), "risk": (1e-6, 0.1, "%.6f"),
    "level": (0.5, 0.999, "%.3f"), "contamination": (0.0001, 0.5, "%.4f")}


def page() -> None:
    st.title("Threshold tuning")
    ws = common.workspace()
    detector = common.pick_model(ws)
    scored = common.pick_scored(ws, detector, required=False)
    validation = np.asarray(detector.validation_scores_, dtype=float)
    scores = scored.scores if scored is not None else np.zeros(0)
    plan = drill_plan(detector)
    labels = _labels(ws, detector, plan, scored)

    marks = _marks(ws, detector)
    spec = common.slider_spec(detector, scored)
    slider_key = f"thr:{detector.bundle_path_}:{scored.key if scored else ''}"
    choice = _method(validation, scores, labels, spec, slider_key, detector.threshold_,
                     _mark_labels(detector, marks, labels))
    threshold = common.threshold_slider(spec, key=slider_key)

    times = common.scored_times(detector, scored)
    stats = threshold_stats(scores, validation, threshold, times, labels)
    cols = st.columns(4)
    cols[0].metric(f"Flagged {plan.plural}", f"{stats.flagged:,}" if scored else "–",
                   help=f"Scored {plan.plural} with anomaly_score above the threshold")
    cols[1].metric("Flagged share", f"{stats.flagged / max(stats.rows, 1):.2%}" if scored else "–")
    cols[2].metric("Expected false alarms", f"{stats.validation_false_alarm:.2%}",
                   help="Share of held-out validation normals above the threshold")
    cols[3].metric("Alerts per day", f"{stats.alerts_per_day:,.1f}"
                   if stats.alerts_per_day is not None else "–")
    if not marks.empty:
        precision, above = reviewed_precision(marks, threshold)
        st.metric("Precision among reviewed", f"{precision:.2f}" if precision is not None
                  else "–", help=f"Of the {len(marks):,} items analysts reviewed (this model "
                  f"version, all scored files), {above:,} score above this threshold: the "
                  "share of those marked confirmed.")

    series = {"validation normals": validation}
    if scored is not None:
        series[f"scored: {scored.source}"] = scores
    st.altair_chart(charts.histogram(histogram(series), threshold), width="stretch")
    st.caption(f"Share of {plan.plural} per score bin (the top 0.1 % is gathered in the last "
               "bin); dashed: the threshold.")

    if stats.report is not None and labels is not None:
        _quality(stats.report, scores, labels)
    _save(detector, choice, threshold, spec)


def _labels(ws: Path, detector: Any, plan: DrillPlan,
            scored: common.Scored | None) -> np.ndarray | None:
    if scored is None:
        return None
    label_cols = [c for c in roles(detector.meta_)["label"] if c in scored.frame.columns]
    if label_cols:
        return check_labels(scored.frame[label_cols[0]], label_cols[0], scored.source).astype(int)
    with st.expander("Labels (optional): precision, recall, F1"):
        by = ", ".join(plan.keys) if plan.keys else "row number"
        st.caption(f"A table with a 0/1 label per scored {plan.item}, matched by {by}.")
        chosen = common.pick_table(ws, scored, key="label_input")
        if chosen is None or chosen.table is None:
            return None
        raw = chosen.table
        column = st.selectbox("Label column (1 = anomaly)", [str(c) for c in raw.columns],
                              index=label_guess(raw.columns), key="label_col",
                              placeholder="Choose the label column")
        if column is None:
            return None
        try:
            return labels_for(plan, scored.frame, raw, column, chosen.name)
        except AnomalyError as exc:
            st.error(str(exc))
            return None


def _marks(ws: Path, detector: Any) -> pd.DataFrame:
    """The analysts' marks of this model version (all scored files)."""
    marks = read_marks(ws, str(detector.meta_["name"]))
    return marks[marks["model_version"] == int(detector.meta_["version"])]


def _mark_labels(detector: Any, marks: pd.DataFrame, labels: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """F1 on the marks (+ validation normals), when there are marks and no file labels."""
    if labels is not None or not (marks["verdict"] == CONFIRMED).any():
        return None
    if not st.checkbox("F1 from the analysts' marks", value=True, key="thr_from_marks",
                       help="Best F1 over the reviewed items (confirmed = 1, false alarm = 0), "
                            "as near the current threshold as they allow, like `anomaly "
                            "threshold --method f1 --from-feedback`."):
        return None
    return labels_from_marks(marks, int(detector.meta_["version"]))


def _method(validation: np.ndarray, scores: np.ndarray, labels: np.ndarray | None,
            spec: SliderSpec, slider_key: str, current: float,
            from_marks: tuple[np.ndarray, np.ndarray] | None = None) -> ThresholdChoice | None:
    """The method picker; 'Use' moves the slider to the method's threshold.

    "manual" is the slider alone; the other methods show their parameters (starting at the
    values of `anomaly.core.thresholds.METHODS`) and the threshold they give. Best F1 uses
    the file's labels, else `from_marks` (scores and labels of reviewed items).
    """
    left, mid, right = st.columns([2, 2, 1])
    method = left.selectbox("Method", picker_methods(), key="thr_method",
                            format_func=lambda m: METHODS[m].title)
    if method == "manual":
        return None
    params: dict[str, float] = {}
    for name, start in starting_params(method).items():
        low, high, fmt = PARAM_INPUTS.get(name, (0.0, 1e9, "%.6g"))
        params[name] = float(mid.number_input(name, low, high, start, format=fmt,
                                              key=f"thr_{method}_{name}"))
    try:
        choice = (f1_from_marks(*from_marks, current)
                  if method == "f1" and labels is None and from_marks is not None else
                  choose_threshold(method, validation, **params,
                                   scores=scores if len(scores) else None, labels=labels))
    except ValueError as exc:
        st.error(f"{METHODS[method].title}: {exc}")
        return None
    mid.write(f"→ threshold **{choice.value:.6g}**")

    def use() -> None:
        st.session_state[slider_key] = spec.snap(choice.value)

    right.button("Use", on_click=use, key="thr_use", help="Move the slider to this threshold")
    return choice


def _quality(report: Any, scores: np.ndarray, labels: np.ndarray) -> None:
    st.subheader("With labels")
    cols = st.columns(4)
    cols[0].metric("Precision", f"{report.precision:.3f}")
    cols[1].metric("Recall", f"{report.recall:.3f}")
    cols[2].metric("F1", f"{report.f1:.3f}")
    cols[3].metric("PR-AUC", f"{report.pr_auc:.3f}" if report.pr_auc is not None else "–")
    left, right = st.columns(2)
    if 0 < labels.sum() < len(labels):
        left.altair_chart(charts.pr(pr_curve(scores, labels), report.precision, report.recall),
                          width="stretch")
    right.write("**Confusion matrix**")
    right.dataframe(pd.DataFrame({"flagged": [report.tp, report.fp],
                                  "not flagged": [report.fn, report.tn]},
                                 index=["labelled anomaly", "labelled normal"]))


def _save(detector: Any, choice: ThresholdChoice | None, threshold: float,
          spec: SliderSpec) -> None:
    """Write a new threshold version into the bundle (same code as `anomaly threshold`)."""
    st.subheader("Save")
    info = detector.threshold_info_
    st.caption(f"Current: version {info['version']}, {info['value']:.6g} ({info['method']}). "
               "Saving adds a version to bundle.json with who, when and why; later scoring "
               "uses it.")
    with st.form("save_threshold"):
        why = st.text_input("Why", key="thr_why", placeholder="e.g. fewer alerts at night")
        submitted = st.form_submit_button("Save threshold")
    if not submitted:
        return
    if choice is not None and spec.snap(choice.value) == threshold:
        final = choice  # the slider sits on the method's value: keep its exact value and params
    else:
        final = choose_threshold("manual", np.zeros(0), value=threshold)
    try:
        detector.set_threshold(final, by=f"dashboard ({review.user()})",
                               why=why or "set in the dashboard")
        detector.save_threshold()
    finally:
        common.forget_detectors()
    st.success(f"Saved threshold version {detector.threshold_info_['version']}: "
               f"{final.value:.6g} ({final.method}) in {detector.bundle_path_}")


common.run(page)
