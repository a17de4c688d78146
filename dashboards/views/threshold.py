"""Threshold tuning: histograms, a slider and a method picker, live counts, save a new version."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from anomaly import dashboard_data as dd
from anomaly.core.detector import check_labels
from anomaly.core.thresholds import ThresholdChoice, choose_threshold
from anomaly.errors import AnomalyError
from anomaly.insights import histogram, pr_curve, threshold_stats
from dashboards import charts, common

METHODS = {"manual": "Manual (slider)", "quantile": "Quantile of validation normals",
           "sigma": "Mean + k·std", "mad": "Median + k·MAD", "pot": "POT (extreme values)",
           "contamination": "Contamination (share of the scored data)",
           "f1": "Best F1 (needs labels)"}


def page() -> None:
    st.title("Threshold tuning")
    ws = common.workspace()
    detector = common.pick_model(ws)
    scored = common.pick_scored(ws, detector, required=False)
    validation = np.asarray(detector.validation_scores_, dtype=float)
    scores = scored.scores if scored is not None else np.zeros(0)
    labels = _labels(ws, detector, scored)

    spec = common.slider_spec(detector, scored)
    slider_key = f"thr:{detector.bundle_path_}:{scored.key if scored else ''}"
    choice = _method(validation, scores, labels, spec, slider_key)
    threshold = common.threshold_slider(spec, key=slider_key)

    times = None
    time_col = dd.time_column(detector.meta_)
    if scored is not None and time_col and time_col in scored.frame.columns:
        times = dd.parse_times(scored.frame[time_col])
    stats = threshold_stats(scores, validation, threshold, times, labels)
    cols = st.columns(4)
    cols[0].metric("Flagged rows", f"{stats.flagged:,}" if scored else "–",
                   help="Scored rows with anomaly_score above the threshold")
    cols[1].metric("Flagged share", f"{stats.flagged / max(stats.rows, 1):.2%}" if scored else "–")
    cols[2].metric("Expected false alarms", f"{stats.validation_false_alarm:.2%}",
                   help="Share of held-out validation normals above the threshold")
    cols[3].metric("Alerts per day", f"{stats.alerts_per_day:,.1f}"
                   if stats.alerts_per_day is not None else "–")

    series = {"validation normals": validation}
    if scored is not None:
        series[f"scored: {scored.source}"] = scores
    st.altair_chart(charts.histogram(histogram(series), threshold), width="stretch")
    st.caption("Share of rows per score bin (the top 0.1 % is gathered in the last bin); "
               "dashed: the threshold.")

    if stats.report is not None and labels is not None:
        _quality(stats.report, scores, labels)
    _save(detector, choice, threshold, spec)


def _labels(ws: Path, detector: Any, scored: common.Scored | None) -> np.ndarray | None:
    if scored is None:
        return None
    label_cols = [c for c in dd.roles(detector.meta_)["label"] if c in scored.frame.columns]
    if label_cols:
        return check_labels(scored.frame[label_cols[0]], label_cols[0], scored.source).astype(int)
    with st.expander("Labels (optional): precision, recall, F1"):
        chosen = common.pick_input(ws, scored, key="label_input")
        if chosen is None:
            return None
        raw, source = chosen
        options = [str(c) for c in raw.columns]
        default = options.index("label") if "label" in options else 0
        column = st.selectbox("Label column (1 = anomaly)", options, index=default,
                              key="label_col")
        try:
            return dd.labels_for(scored.frame, raw, column, common.id_columns(detector), source)
        except AnomalyError as exc:
            st.error(str(exc))
            return None


def _method(validation: np.ndarray, scores: np.ndarray, labels: np.ndarray | None,
            spec: dd.SliderSpec, slider_key: str) -> ThresholdChoice | None:
    """The method picker; 'Use' moves the slider to the method's threshold."""
    left, mid, right = st.columns([2, 2, 1])
    method = left.selectbox("Method", list(METHODS), format_func=METHODS.__getitem__,
                            key="thr_method")
    params: dict[str, Any] = {}
    if method == "quantile":
        params["q"] = mid.number_input("q", 0.5, 0.99999, 0.995, format="%.5f", key="thr_q")
    elif method in ("sigma", "mad"):
        params["k"] = mid.number_input("k", 0.5, 20.0, 3.0 if method == "sigma" else 3.5,
                                       key=f"thr_k_{method}")
    elif method == "pot":
        params["risk"] = mid.number_input("risk", 1e-6, 0.1, 1e-3, format="%.6f", key="thr_risk")
        params["level"] = mid.number_input("level", 0.5, 0.999, 0.98, format="%.3f",
                                           key="thr_level")
    elif method == "contamination":
        params["contamination"] = mid.number_input("contamination", 0.0001, 0.5, 0.01,
                                                   format="%.4f", key="thr_cont")
    if method == "manual":
        return None
    try:
        choice = choose_threshold(method, validation, **params,
                                  scores=scores if len(scores) else None, labels=labels)
    except ValueError as exc:
        st.error(f"{METHODS[method]}: {exc}")
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
          spec: dd.SliderSpec) -> None:
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
        final = ThresholdChoice("manual", {"value": threshold}, threshold)
    try:
        detector.set_threshold(final, by=f"dashboard ({_user()})",
                               why=why or "set in the dashboard")
        detector.save_threshold()
    finally:
        common.forget_detectors()
    st.success(f"Saved threshold version {detector.threshold_info_['version']}: "
               f"{final.value:.6g} ({final.method}) in {detector.bundle_path_}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


common.run(page)
