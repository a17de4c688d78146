"""Time-series metrics for `anomaly evaluate`: SKAB's F1/FAR/MAR, point-adjusted F1, events."""

from __future__ import annotations

from typing import Any

import numpy as np

from anomaly.core.metrics import event_report, point_adjusted_f1, skab_report


def timeseries_metrics(labels: np.ndarray, flags: np.ndarray) -> dict[str, Any]:
    """Point-wise, SKAB (F1/FAR/MAR), point-adjusted and event-wise metrics for flags."""
    skab = skab_report(labels, flags)
    events = event_report(labels, flags)
    return {"skab": {"f1": skab.f1, "far": skab.far, "mar": skab.mar},
            "point_adjusted_f1": point_adjusted_f1(labels, flags),
            "events": {"n_events": events.n_events, "detected": events.detected,
                       "recall": events.recall, "mean_delay_rows": events.mean_delay,
                       "median_delay_rows": events.median_delay}}


def describe_metrics(metrics: dict[str, Any]) -> list[str]:
    """The metrics of `timeseries_metrics` as indented lines for the CLI."""
    skab, events = metrics["skab"], metrics["events"]
    delay = events["mean_delay_rows"]
    return [f"  time series: SKAB F1 {skab['f1']:.4f}  FAR {skab['far']:.2f}%  "
            f"MAR {skab['mar']:.2f}%",
            f"  point-adjusted F1 {metrics['point_adjusted_f1']:.4f}",
            f"  events: {events['detected']}/{events['n_events']} detected (recall "
            f"{events['recall']:.2f}), mean delay "
            f"{'n/a' if delay is None else f'{delay:.1f} rows'}"]
