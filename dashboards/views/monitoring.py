"""Monitoring: scored files over time from runs.db, failed files, and a drift signal per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from anomaly.analysis.health import (
    DRIFT_FILES,
    DRIFT_PSI,
    FALSE_ALARM_SHARE,
    MIN_MARKS,
    Reference,
    assess,
)
from anomaly.analysis.monitoring import quantile_drift, runs_summary
from anomaly.analysis.workspace import inside
from anomaly.bundle import resolve
from anomaly.errors import AnomalyError
from anomaly.jobs.feedback import read_marks
from anomaly.kinds.logs.drift import detector_note
from dashboards import charts, common

RECENT_FILES = 10
FAILED_SHOWN = 20


def page() -> None:
    st.title("Monitoring")
    ws = common.workspace()
    history = common.run_history(ws)
    if history.empty:
        st.info(f"No runs yet: {ws / 'runs.db'} does not exist or is empty. Batch scoring "
                "records every file there: `anomaly batch MODEL --inbox DIR --outbox DIR`.")
        return
    files = history.files
    head = runs_summary(files)
    cols = st.columns(4)
    cols[0].metric("Files scored", f"{head['files']:,}")
    cols[1].metric("Failed files", f"{head['failed']:,}")
    cols[2].metric("Rows", f"{head['rows']:,}")
    cols[3].metric("Anomalies", f"{head['anomalies']:,}")

    models = sorted(files["model"].dropna().unique()) if "model" in files.columns else []
    chosen = st.multiselect("Models", models, default=models, key="mon_models")
    shown = files[files["model"].isin(chosen)] if models else files
    ok = shown[shown["status"] == "ok"] if "status" in shown.columns else shown

    if not ok.empty:
        st.subheader("Runs over time")
        left, right = st.columns(2)
        left.altair_chart(charts.over_time(ok, "anomaly_rate", "anomaly rate", ".2%"),
                          width="stretch")
        right.altair_chart(charts.over_time(ok, "rows", "rows", ","), width="stretch")
        quantiles = ok.melt(id_vars=["started_at", "model", "input_path"],
                            value_vars=["score_p50", "score_p90", "score_p99"],
                            var_name="quantile", value_name="score")
        st.altair_chart(charts.over_time(quantiles.assign(model=quantiles["model"] + " " +
                                                          quantiles["quantile"]),
                                         "score", "score quantiles"), width="stretch")

    st.subheader("Drift")
    st.caption(f"Per model, its {RECENT_FILES} most recent scored files against the validation "
               "normals: the share of scores above the validation 99th percentile (about 1 %, "
               "less when validation scores tie) and the PSI over the validation bins at "
               "p50/p90/p99 (< 0.1 stable, 0.1–0.25 moderate, > 0.25 major), estimated from each "
               f"file's quantiles in runs.db. A model needs attention when each of its last "
               f"{DRIFT_FILES} files has a PSI above {DRIFT_PSI} (retrain it), or when more "
               f"than {FALSE_ALARM_SHARE:.0%} of at least {MIN_MARKS} reviewed flags it still "
               "raises were marked false alarm (recalibrate its threshold); the metric "
               "`anomaly_model_attention` of `anomaly batch --metrics-file` says the same.")
    for model in chosen:
        _drift(ws, model, ok[ok["model"] == model])

    failed = shown[shown["status"] == "failed"] if "status" in shown.columns else shown.iloc[:0]
    st.subheader(f"Failed files ({len(failed):,})")
    if failed.empty:
        st.success("No failed files.")
    else:
        keep = [c for c in ("started_at", "model", "input_path", "error", "run_id")
                if c in failed.columns]
        latest = failed[keep].sort_values("started_at", ascending=False)
        st.table(latest.head(FAILED_SHOWN).set_index("started_at"))
        if len(latest) > FAILED_SHOWN:
            with st.expander(f"All {len(latest):,} failed files"):
                st.dataframe(latest, hide_index=True, width="stretch")
    with st.expander("Batch runs"):
        st.dataframe(history.runs, hide_index=True, width="stretch")


def _drift(ws: Path, model: str, files: pd.DataFrame) -> None:
    recent = files.sort_values("started_at").tail(RECENT_FILES)
    try:
        version = recent["model_version"].dropna().iloc[-1] if "model_version" in recent else None
        ref = f"{model}@{int(version)}" if version is not None else model
        bundle = inside(ws, resolve(ref, inside(ws, "models")))
        detector = common.detector_at(bundle)
        validation = np.asarray(detector.validation_scores_, float)
    except (AnomalyError, IndexError) as exc:
        st.warning(f"{model}: no drift signal — {exc}")
        return
    health = assess(model, files, Reference.of(detector), read_marks(ws, model))
    for advice in health.advice():
        st.warning(advice)
    shares = recent["unknown_share"].dropna() if "unknown_share" in recent else recent.iloc[:0]
    note = detector_note(float(shares.iloc[-1]), model, detector.features_) if len(shares) \
        else None
    if note:  # the log format changed: the latest file's lines mostly match no template
        st.error(f"**{model}**: template drift in its latest log file — {note}")
    drift = quantile_drift(recent, validation)
    if drift is None:
        st.write(f"**{model}**: no successful files with score quantiles yet.")
        return
    text = (f"**{model}** ({drift.files} files, {drift.rows:,} rows): "
            f"{drift.share_above_p99:.2%} of scores above the validation p99 (expected "
            f"{drift.expected_above_p99:.2%}), "
            f"PSI {drift.psi:.3f} → **{drift.level}**")
    {"stable": st.success, "moderate": st.warning, "major": st.error}[drift.level](text)


common.run(page)
