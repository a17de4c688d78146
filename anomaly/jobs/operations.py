"""What a scheduled batch tells the outside: Prometheus metrics and webhook alerts, per run.

`anomaly batch` creates one `Operations` and calls it at three points of each run: `begin`
(the detector is loaded), `file_done` (a file was scored or quarantined: the `run_batch` hook)
and `end` (the run is over, or failed). See `anomaly.jobs.metrics` and `anomaly.jobs.alerts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from anomaly.analysis.health import Reference
from anomaly.jobs.alerts import Alerter, Delivery, file_event, run_failed_event
from anomaly.jobs.ledger import FileRecord
from anomaly.jobs.metrics import LedgerCollector, registry_for, serve_metrics, write_metrics
from anomaly.jobs.score import ScoreSummary


@dataclass(frozen=True)
class OpsOptions:
    """Where metrics go and where alerts are posted (None: not wanted)."""

    metrics_file: Path | None = None
    metrics_port: int | None = None
    alerts: Delivery | None = None
    alert_min: int = 1  # flagged rows that make a file worth an alert
    drain: float = 30.0  # seconds the end of a run waits for undelivered alerts


class Operations(Collector):
    """Metrics and alerts around the runs of one `anomaly batch` command.

    It is the registry's one collector, handing over to the `LedgerCollector` of the model
    the last run loaded, so that /metrics can be served (and a taken port refused, exit 2)
    before the first run.
    """

    def __init__(self, workspace: Path, options: OpsOptions) -> None:
        self.workspace = workspace
        self.options = options
        self.collector: LedgerCollector | None = None
        self.registry = registry_for(self)
        self.server: Any = None
        self.alerter: Alerter | None = None
        self.run_id: str | None = None
        if options.metrics_port is not None:
            self.server = serve_metrics(options.metrics_port, self.registry)

    def collect(self) -> Iterator[Metric]:
        if self.collector is not None:
            yield from self.collector.collect()

    @property
    def wanted(self) -> bool:
        o = self.options
        return bool(o.metrics_file or o.metrics_port or o.alerts)

    def begin(self, detector: Any) -> None:
        """A run starts with `detector` loaded (a new version may have appeared)."""
        name = str(detector.meta_["name"])
        if self.collector is None or self.collector.model != name:
            self.collector = LedgerCollector(self.workspace, name)
        self.collector.reference = Reference.of(detector)
        if self.options.alerts is not None:
            self.workspace.mkdir(parents=True, exist_ok=True)
            self.alerter = Alerter(self.workspace, self.options.alerts, name)

    def file_done(self, record: FileRecord, summary: ScoreSummary | None, run_id: str) -> None:
        """After each scored or quarantined file (its ledger row is committed)."""
        self.run_id = run_id
        if self.alerter is None:
            return
        if record.status == "failed" or (record.anomalies or 0) >= self.options.alert_min:
            self.alerter.send(file_event(record, summary, run_id))

    def failed(self, model: str, error: BaseException) -> None:
        """The run stopped on an error (not a file's: those are quarantined)."""
        if self.options.alerts is None:
            return
        if self.alerter is None:  # failed before a detector was loaded
            self.workspace.mkdir(parents=True, exist_ok=True)
            self.alerter = Alerter(self.workspace, self.options.alerts, model)
        self.alerter.send(run_failed_event(model, f"{type(error).__name__}: {error}",
                                           self.run_id))

    def end(self) -> None:
        """The run is over: deliver what is queued (bounded), then write the metrics file."""
        if self.alerter is not None:
            self.alerter.close(self.options.drain)
            self.alerter = None
        self.run_id = None
        if self.options.metrics_file is not None and self.collector is not None:
            write_metrics(self.options.metrics_file, self.registry)

    def close(self) -> None:
        """Stop serving /metrics."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
