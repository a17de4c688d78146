"""Training: learning curves, the epoch early stopping kept, diagnostics, the training settings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from anomaly.analysis.training import data_counts, data_settings, diagnose_training
from dashboards import charts, common


def page() -> None:
    st.title("Training")
    ws = common.workspace()
    detector = common.pick_model(ws)
    meta = detector.meta_
    summary = meta.get("training", {})
    history: pd.DataFrame = detector.history_
    best = summary.get("best_epoch")

    cols = st.columns(4)
    cols[0].metric("Epochs run", summary.get("epochs_run", len(history)))
    cols[1].metric("Best epoch (kept)", best if best is not None else "–")
    best_loss = summary.get("best_val_loss")
    cols[2].metric("Best validation loss", f"{best_loss:.4g}" if best_loss is not None else "–")
    cols[3].metric("Training time", f"{summary.get('seconds', 0):.1f} s")

    for finding in diagnose_training(history, best):
        (st.warning if finding.level == "warning" else st.success)(finding.message)

    if not history.empty and {"epoch", "train_loss", "val_loss"} <= set(history.columns):
        st.subheader("Loss per epoch")
        st.altair_chart(charts.loss_curves(history, best), width="stretch")
        st.caption("Log scale. Dashed green: the epoch whose weights early stopping kept.")
        if "lr" in history.columns:
            st.subheader("Learning rate")
            st.altair_chart(charts.learning_rate(history), width="stretch")
        with st.expander("History table (history.csv)"):
            st.dataframe(history, hide_index=True, width="stretch")

    counts = data_counts(summary, detector.kind_.item)
    if counts:
        st.subheader("Data")
        for col, (label, value) in zip(st.columns(len(counts)), counts, strict=True):
            col.metric(label, f"{value:,}")

    st.subheader("Settings")
    settings = meta.get("settings", {})
    left, right = st.columns(2)
    left.write("**Training**")
    left.json(settings.get("training", {}), expanded=True)
    right.write("**Network**")
    right.json(meta.get("network", {}), expanded=True)
    right.write("**Data**")
    right.json(data_settings(meta), expanded=False)


common.run(page)
