"""Altair charts of the dashboard. Inputs are already reduced (binned / downsampled) frames.

Functions return Altair chart objects (typed Any: Altair's own annotations are loose).

Time axes are UTC scales labelled on a 24-hour clock, with dates once the data spans more than
a day (`anomaly.analysis.timeline.time_axis`): the browser's time zone and locale change nothing.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from anomaly.analysis.timeline import TOOLTIP_FORMAT, time_axis

THRESHOLD_COLOR = "#d62728"


def _utc(times: pd.Series) -> pd.Series:
    """Times as tz-aware UTC (naive times are UTC already: `anomaly.analysis.timeline`)."""
    stamps = pd.to_datetime(times)
    return stamps.dt.tz_convert("UTC") if stamps.dt.tz is not None else stamps.dt.tz_localize("UTC")


def _time_x(field: str, title: str, times: pd.Series) -> Any:
    """An x encoding for `field` on a UTC time axis labelled for the range of `times`."""
    axis = time_axis(times)
    scale = (alt.Scale(type="utc") if axis.domain_ms is None
             else alt.Scale(type="utc", domain=[_datetime(ms) for ms in axis.domain_ms],
                            nice=False))
    return alt.X(f"{field}:T", title=title, scale=scale,
                 axis=alt.Axis(format=axis.format, tickCount=axis.ticks))


def _datetime(ms: int) -> Any:
    """A UTC moment as Vega-Lite's DateTime (a bare number in a temporal domain reads as NaN)."""
    t = pd.Timestamp(ms, unit="ms", tz="UTC")
    return alt.DateTime(year=t.year, month=t.month, date=t.day, hours=t.hour, minutes=t.minute,
                        seconds=t.second, milliseconds=t.microsecond // 1000, utc=True)


def _time_text(times: pd.Series) -> pd.Series:
    """Times as text for tooltips (a tooltip's own date formatting would use the browser's zone)."""
    text: pd.Series = _utc(times).dt.strftime(TOOLTIP_FORMAT)
    return text


def _rule(threshold: float, orient: str = "y") -> Any:
    frame = pd.DataFrame({"threshold": [threshold]})
    enc = {orient: alt.Y("threshold:Q") if orient == "y" else alt.X("threshold:Q")}
    return alt.Chart(frame).mark_rule(color=THRESHOLD_COLOR, strokeDash=[6, 3]).encode(**enc)


def score_time(line: pd.DataFrame, points: pd.DataFrame, threshold: float) -> Any:
    """Score over time (binned median and max), the threshold line and the flagged points."""
    x = _time_x("time", "time", line["time"])
    long = line.assign(time=_utc(line["time"])).melt(
        "time", value_vars=["p50", "max"], var_name="per time bin", value_name="score")
    base = alt.Chart(long).mark_line(strokeWidth=1).encode(
        x=x, y=alt.Y("score:Q", title="anomaly_score"),
        color=alt.Color("per time bin:N", scale=alt.Scale(range=["#9ecae1", "#1f77b4"])))
    dots = alt.Chart(points.assign(time=_utc(points["time"]), at=_time_text(points["time"])))
    dots = dots.mark_point(color=THRESHOLD_COLOR, filled=True, size=28).encode(
        x=x, y="score:Q", tooltip=["row:Q", alt.Tooltip("at:N", title="time"),
                                   alt.Tooltip("score:Q", format=".4g")])
    return (base + _rule(threshold) + dots).properties(height=260)


def histogram(hist: pd.DataFrame, threshold: float) -> Any:
    """Overlaid score histograms (share per bin) with the threshold line."""
    bars = alt.Chart(hist).mark_bar(opacity=0.55, binSpacing=0).encode(
        x=alt.X("start:Q", title="anomaly_score", bin="binned"), x2="end:Q",
        y=alt.Y("share:Q", title="share of rows", stack=None),
        color=alt.Color("series:N", title=None),
        tooltip=["series:N", alt.Tooltip("start:Q", format=".4g"),
                 alt.Tooltip("share:Q", format=".2%")])
    return (bars + _rule(threshold, "x")).properties(height=260)


def loss_curves(history: pd.DataFrame, best_epoch: int | None) -> Any:
    """Training and validation loss per epoch (log scale) and the epoch early stopping kept."""
    long = history.melt("epoch", value_vars=["train_loss", "val_loss"], var_name="loss",
                        value_name="value")
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("epoch:Q"), y=alt.Y("value:Q", title="loss", scale=alt.Scale(type="log")),
        color="loss:N", tooltip=["epoch:Q", "loss:N", alt.Tooltip("value:Q", format=".4g")])
    if best_epoch is None:
        return alt.layer(lines).properties(height=280)
    best = alt.Chart(pd.DataFrame({"epoch": [best_epoch]})).mark_rule(
        color="#2ca02c", strokeDash=[4, 3]).encode(x="epoch:Q")
    return (lines + best).properties(height=280)


def learning_rate(history: pd.DataFrame) -> Any:
    """Learning rate per epoch."""
    return alt.Chart(history).mark_line(point=True, color="#9467bd").encode(
        x="epoch:Q", y=alt.Y("lr:Q", title="learning rate")).properties(height=180)


def error_shares(explained: pd.DataFrame, top: int = 20) -> Any:
    """Each feature's share of one item's reconstruction error (the `top` largest), with what
    the explanation adds per feature (value, reconstruction, count) in the tooltip."""
    shown = explained.head(top)
    extra = [c for c in shown.columns if c not in ("feature", "error_share")]
    return alt.Chart(shown).mark_bar().encode(
        x=alt.X("error_share:Q", title="share of the error", axis=alt.Axis(format="%")),
        y=alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=480)),
        tooltip=["feature", *extra, alt.Tooltip("error_share:Q", format=".1%")]
    ).properties(height=max(160, 70 + 28 * len(shown)))  # axes included (autosize fit)


def window_lines(window: pd.DataFrame, sensors: list[str]) -> Any:
    """A timestamp's window: each sensor's input and reconstruction over time, one small
    panel per sensor (`sensors`: the order to show them in, largest error share first)."""
    long = window.melt(id_vars=["time", "sensor"], value_vars=["input", "reconstruction"],
                       var_name="series", value_name="value")
    numeric = pd.api.types.is_numeric_dtype(long["time"])
    if not numeric:
        long["time"] = _utc(long["time"])
    x = (alt.X("time:Q", title=None) if numeric else _time_x("time", "", long["time"]))
    return alt.Chart(long).mark_line().encode(
        x=x, y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None,
                        scale=alt.Scale(range=["#1f77b4", "#ff7f0e"])),
        strokeDash=alt.StrokeDash("series:N", legend=None),
        tooltip=["sensor", "series", alt.Tooltip("value:Q", format=".4g")],
    ).properties(height=90, width=260).facet(
        facet=alt.Facet("sensor:N", sort=sensors, title=None), columns=3
    ).resolve_scale(y="independent")


def pr(curve: pd.DataFrame, precision: float, recall: float) -> Any:
    """Precision-recall curve and the current threshold's point."""
    line = alt.Chart(curve).mark_line().encode(
        x=alt.X("recall:Q", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1])))
    here = alt.Chart(pd.DataFrame({"recall": [recall], "precision": [precision]})).mark_point(
        color=THRESHOLD_COLOR, size=90, filled=True).encode(x="recall:Q", y="precision:Q")
    return (line + here).properties(height=260)


def over_time(files: pd.DataFrame, y: str, title: str, fmt: str = ".4g") -> Any:
    """One ledger measure per scored file over time (when its scoring started), a line per model."""
    started = _utc(files["started_at"])  # temporal even if the ledger gave text
    data = files.assign(started_at=started, run_time=_time_text(started))
    return alt.Chart(data).mark_line(point=True).encode(
        x=_time_x("started_at", "run time (UTC)", started), y=alt.Y(f"{y}:Q", title=title),
        color="model:N", tooltip=["model:N", "input_path:N",
                                  alt.Tooltip("run_time:N", title="run time (UTC)"),
                                  alt.Tooltip(f"{y}:Q", format=fmt)]
    ).properties(height=220)
