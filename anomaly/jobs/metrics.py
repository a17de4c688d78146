"""Prometheus metrics of scheduled scoring, read from the run ledger of one model.

`anomaly batch --metrics-file PATH` writes them after every run as a node-exporter
textfile-collector file (atomically: a temporary file renamed over the old one);
`--metrics-port PORT` (with `--every`) also serves them on http://127.0.0.1:PORT/metrics. Both
come from `LedgerCollector`, which reads runs.db when it is asked, so counters are totals over
every run the ledger holds (they survive restarts, as counters should) and a scrape during a run
sees each file as soon as it is committed.

Only the batch's own model is reported, so that several `anomaly batch` processes (one per
model) can each write their own .prom file into the same collector folder without clashing.

Metrics (label `model`; counters end in `_total`):

* `anomaly_batch_files_total{status="ok|failed|skipped"}` — files scored, quarantined, skipped;
* `anomaly_batch_rows_total`, `anomaly_batch_anomalies_total` — rows scored and flagged;
* `anomaly_batch_last_run_duration_seconds`, `anomaly_batch_last_run_failed` (1 when the last
  finished run quarantined files), `anomaly_batch_last_success_timestamp_seconds` (Unix time);
* `anomaly_batch_model_version`, `anomaly_batch_threshold_version` — in use by the last run;
* `anomaly_model_attention{reason="drift|false_alarms"}` (1 = past the limit; see
  `anomaly.analysis.health`), `anomaly_model_drift_psi` (the last file's PSI) and
  `anomaly_model_false_alarm_share` (among recent reviewed flags).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from anomaly.analysis.health import REASONS, Reference, assess
from anomaly.errors import InputError
from anomaly.jobs.feedback import read_marks
from anomaly.jobs.ledger import FILE_STATUSES, connect_readonly

PREFIX = "anomaly_batch"


class LedgerCollector(Collector):
    """Collects one model's batch metrics from `<workspace>/runs.db` at each scrape/write.

    Attributes:
        reference: the model in use (validation normals, version, threshold) for the health
            checks; the batch sets it each time it loads the model.
    """

    def __init__(self, workspace: Path, model: str) -> None:
        self.workspace = workspace
        self.model = model
        self.reference = Reference(np.zeros(0), 0, float("inf"))

    def collect(self) -> Iterator[Metric]:
        db = connect_readonly(self.workspace)
        if db is None:
            return
        try:
            files = pd.read_sql_query("SELECT * FROM files WHERE model = ? ORDER BY id", db,
                                      params=(self.model,))
            last = db.execute(
                "SELECT * FROM runs WHERE model = ? AND status IN ('ok', 'failed') "
                "ORDER BY started_at DESC LIMIT 1", (self.model,)).fetchone()
            success = db.execute(
                "SELECT max(finished_at) FROM runs WHERE model = ? AND status = 'ok'",
                (self.model,)).fetchone()[0]
        finally:
            db.close()
        yield from self._totals(files)
        yield from self._last_run(last, success)
        yield from self._health(files)

    def _family(self, kind: str, name: str, doc: str, value: float,
                extra: dict[str, str] | None = None) -> Metric:
        labels = {"model": self.model, **(extra or {})}
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        family = cls(name, doc, labels=list(labels))
        family.add_metric(list(labels.values()), value)
        return family

    def _totals(self, files: pd.DataFrame) -> Iterator[Metric]:
        counts = files["status"].value_counts() if not files.empty else pd.Series(dtype=int)
        family = CounterMetricFamily(f"{PREFIX}_files", "Files by outcome: ok (scored), failed "
                                     "(quarantined), skipped (already scored).",
                                     labels=["model", "status"])
        for status in FILE_STATUSES:
            family.add_metric([self.model, status], float(counts.get(status, 0)))
        yield family
        ok = files[files["status"] == "ok"] if not files.empty else files
        yield self._family("counter", f"{PREFIX}_rows", "Rows scored.",
                           float(ok["rows"].sum()) if not ok.empty else 0.0)
        yield self._family("counter", f"{PREFIX}_anomalies", "Rows flagged as anomalies.",
                           float(ok["anomalies"].sum()) if not ok.empty else 0.0)

    def _last_run(self, last: sqlite3.Row | None, success: str | None) -> Iterator[Metric]:
        if success:
            yield self._family("gauge", f"{PREFIX}_last_success_timestamp_seconds",
                               "Unix time the last run without failed files finished.",
                               _unix(success))
        if last is None:
            return
        yield self._family("gauge", f"{PREFIX}_last_run_duration_seconds",
                           "Wall time of the last finished run.",
                           max(0.0, _unix(last["finished_at"]) - _unix(last["started_at"])))
        yield self._family("gauge", f"{PREFIX}_last_run_failed",
                           "1 when the last finished run quarantined files.",
                           float(last["status"] == "failed"))
        yield self._family("gauge", f"{PREFIX}_model_version",
                           "Model version used by the last run.", float(last["model_version"]))
        yield self._family("gauge", f"{PREFIX}_threshold_version",
                           "Threshold version used by the last run.",
                           float(last["threshold_version"]))

    def _health(self, files: pd.DataFrame) -> Iterator[Metric]:
        marks = read_marks(self.workspace, self.model)
        health = assess(self.model, files, self.reference, marks)
        family = GaugeMetricFamily("anomaly_model_attention", "1 when the model is past a "
                                   "health limit: drift (retrain) or false_alarms (recalibrate).",
                                   labels=["model", "reason"])
        for reason in REASONS:
            family.add_metric([self.model, reason], float(reason in health.reasons))
        yield family
        if health.file_psi:
            yield self._family("gauge", "anomaly_model_drift_psi", "PSI of the last scored file "
                               "against the validation normals.", health.file_psi[-1])
        if health.false_alarm_share is not None:
            yield self._family("gauge", "anomaly_model_false_alarm_share", "Share of recent "
                               "reviewed flags marked false alarm.", health.false_alarm_share)


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def registry_for(collector: Collector) -> CollectorRegistry:
    """A registry holding only `collector` (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def write_metrics(path: Path, registry: CollectorRegistry) -> None:
    """Write the textfile-collector file atomically (a temporary name in the same folder)."""
    check_metrics_file(path)
    write_to_textfile(str(path), registry)


def check_metrics_file(path: Path) -> None:
    """`InputError` unless `path` is a *.prom file in an existing folder."""
    if path.suffix != ".prom":
        raise InputError(f"--metrics-file {path}: name it *.prom — node-exporter's textfile "
                         "collector reads only files ending in .prom")
    if not path.parent.is_dir():
        raise InputError(f"--metrics-file {path}: folder {path.parent} not found — create it "
                         "(e.g. node-exporter's --collector.textfile.directory)")


def serve_metrics(port: int, registry: CollectorRegistry) -> Any:
    """Serve `/metrics` on 127.0.0.1:`port` in a background thread; returns the server."""
    try:
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise InputError(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port} "
                         f"({exc.strerror or exc}) — pick a free port") from None
    return server
