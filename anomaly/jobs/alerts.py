"""Webhook alerts of batch scoring: a file with flagged rows, a quarantined file, a failed run.

`anomaly batch --alert-webhook URL` POSTs one JSON body per event (`--alert-format slack`:
Slack's ``{"text": ...}``). Rules:

* **at most once** — each event has a key, e.g. (file content SHA-256, model version, threshold
  version) for flagged rows; the key is stored in runs.db (table `alerts`, made by the ledger's
  migrations) *before* the alert
  is queued, so a re-run never sends it again. While a process holds an alert it is
  'sending' (with that process as its owner); one that could not be delivered goes back to
  'pending' with its body, and the next run of the same model claims it (row by row, so two
  processes never both take one) and retries it, as it does with the 'sending' alerts of a
  process that died. A process killed between sending and recording may so send one alert
  twice; nothing else does;
* **never blocks scoring** — alerts are posted by a background thread; a 5xx answer, a timeout
  or a refused connection is retried with exponential backoff (0.5 s, 1 s, 2 s … at most 10 s
  apart) until `give_up` seconds after the alert was queued; other 4xx answers are not retried.
  At the end of a run `Alerter.close` waits at most `drain` seconds for the queue.

Only the standard library (urllib) posts: no new dependency.

Example:
    >>> slack_text({"event": "failed", "model": "toy", "model_version": 1,
    ...             "threshold_version": 2, "file": "/in/a.csv", "error": "bad"})
    ':x: anomaly toy@1 (threshold v2): /in/a.csv could not be scored — bad'
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from anomaly import __version__
from anomaly.clock import now
from anomaly.jobs.ledger import TIMESPEC, FileRecord, Ledger
from anomaly.jobs.score import ScoreSummary

log = logging.getLogger("anomaly")

FORMATS = ("json", "slack")
TOP_ROWS = 5  # flagged rows in an alert (the highest scores)
SKIP_COLUMNS = ("is_anomaly", "score_percentile")


# ------------------------------------------------------------------------- bodies
def file_event(record: FileRecord, summary: ScoreSummary | None, run_id: str) -> dict[str, Any]:
    """The JSON body of a file's alert: flagged rows (with the top ones) or a failure."""
    body: dict[str, Any] = {
        "event": "flagged" if record.status == "ok" else "failed",
        "model": record.model, "model_version": record.model_version,
        "threshold_version": record.threshold_version, "threshold": record.threshold,
        "file": record.input_path, "input_sha256": record.input_sha256, "run_id": run_id,
        "time": now(TIMESPEC), "sender": f"anomaly {__version__}"}
    if record.status == "ok":
        body.update(rows=record.rows, flagged=record.anomalies,
                    anomaly_rate=record.anomaly_rate, output=record.output_path,
                    top=top_rows(summary.flagged if summary is not None else None))
    else:
        body["error"] = record.error
    return body


def run_failed_event(model: str, error: str, run_id: str | None = None) -> dict[str, Any]:
    """The JSON body of a run that stopped on an error."""
    return {"event": "run_failed", "model": model, "run_id": run_id, "error": error,
            "time": now(TIMESPEC), "sender": f"anomaly {__version__}"}


def top_rows(flagged: pd.DataFrame | None, count: int = TOP_ROWS) -> list[dict[str, Any]]:
    """The highest-scoring flagged rows: their id/time columns, score and top features."""
    if flagged is None or flagged.empty:
        return []
    rows = flagged.nlargest(count, "anomaly_score").drop(columns=list(SKIP_COLUMNS),
                                                         errors="ignore")
    records: list[dict[str, Any]] = json.loads(rows.to_json(orient="records", date_format="iso",
                                                            double_precision=6))
    return records


def slack_text(body: dict[str, Any]) -> str:
    """One Slack message for an alert body."""
    who = f"anomaly {body['model']}"
    if body.get("model_version") is not None:
        who += f"@{body['model_version']} (threshold v{body['threshold_version']})"
    if body["event"] == "run_failed":
        return f":x: {who}: the batch run failed — {body['error']}"
    if body["event"] == "failed":
        return f":x: {who}: {body['file']} could not be scored — {body['error']}"
    lines = [f":rotating_light: {who}: {body['flagged']:,} of {body['rows']:,} rows flagged in "
             f"{body['file']} → {body['output']}"]
    for row in body.get("top", []):
        names = ", ".join(f"{k}={v}" for k, v in row.items()
                          if k not in ("anomaly_score", "top_features"))
        lines.append(f"• {names + ' ' if names else ''}score {row['anomaly_score']:.4g}: "
                     f"{row.get('top_features', '')}")
    return "\n".join(lines)


def event_key(body: dict[str, Any]) -> str:
    """What makes an alert the same alert: the event, file content and both versions."""
    if body["event"] == "run_failed":
        return f"run_failed:{body['model']}:{body['run_id'] or body['time']}"
    return (f"{body['event']}:{body['input_sha256']}:{body['model']}:{body['model_version']}:"
            f"{body['threshold_version']}")


# ------------------------------------------------------------------------ sending
@dataclass(frozen=True)
class Delivery:
    """How alerts are posted."""

    url: str
    fmt: str = "json"
    timeout: float = 10.0  # seconds per request
    give_up: float = 60.0  # seconds after queueing
    max_backoff: float = 10.0


def post(delivery: Delivery, body: dict[str, Any]) -> None:
    """POST one alert; raises `urllib.error.URLError`/`OSError` (HTTPError for answers)."""
    payload = {"text": slack_text(body)} if delivery.fmt == "slack" else body
    request = urllib.request.Request(
        delivery.url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"anomaly/{__version__}"})
    with urllib.request.urlopen(request, timeout=delivery.timeout) as answer:
        answer.read()


def retryable(exc: BaseException) -> bool:
    """5xx answers, 408/429, timeouts and connection errors are worth another try."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    return isinstance(exc, OSError)  # URLError, timeouts and refused connections are OSErrors


def _alive(owner: str | None) -> bool:
    """Whether the process that owns an alert ("pid N") still runs on this machine."""
    try:
        pid = int((owner or "").removeprefix("pid "))
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class Alerter:
    """Records alerts of one model in runs.db and posts them from a background thread."""

    def __init__(self, workspace: Path, delivery: Delivery, model: str) -> None:
        self.ledger = Ledger(workspace)  # brings runs.db to the schema with `alerts`
        self.ledger_path = self.ledger.path
        self.delivery = delivery
        self.model = model
        self.owner = f"pid {os.getpid()}"
        self.db = self.ledger.db
        self.queue: queue.Queue[tuple[int, dict[str, Any], float] | None] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._work, name="anomaly-alerts", daemon=True)
        self.thread.start()
        for alert_id, body in self._claim_undelivered():
            self.queue.put((alert_id, body, time.monotonic()))

    def _claim_undelivered(self) -> list[tuple[int, dict[str, Any]]]:
        """This model's alerts left 'pending', or 'sending' by a dead process, now ours."""
        claimed = []
        rows = self.db.execute("SELECT id, status, owner, body FROM alerts WHERE model = ? AND "
                               "status IN ('pending', 'sending') ORDER BY id", (self.model,))
        for alert_id, status, owner, body in rows.fetchall():
            if status == "sending" and (owner == self.owner or _alive(owner)):
                continue
            with self.db:  # only one claimer wins: the row must still be as it was read
                won = self.db.execute(
                    "UPDATE alerts SET status = 'sending', owner = ? WHERE id = ? AND "
                    "status = ? AND owner IS ?", (self.owner, alert_id, status, owner)).rowcount
            if won:
                claimed.append((int(alert_id), json.loads(body)))
        return claimed

    def send(self, body: dict[str, Any]) -> bool:
        """Record and queue an alert; False (nothing sent) when its key was alerted before."""
        with self.db:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO alerts (key, event, model, model_version, "
                "threshold_version, input_path, run_id, created_at, status, owner, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sending', ?, ?)",
                (event_key(body), body["event"], body["model"], body.get("model_version"),
                 body.get("threshold_version"), body.get("file"), body.get("run_id"),
                 now(TIMESPEC), self.owner, json.dumps(body)))
        if not cursor.rowcount:
            return False
        self.queue.put((int(cursor.lastrowid or 0), body, time.monotonic()))
        return True

    def close(self, drain: float = 30.0) -> None:
        """Wait at most `drain` seconds for queued alerts, then stop the thread."""
        self.queue.put(None)
        self.thread.join(drain)
        self.stop.set()
        if self.thread.is_alive():
            log.warning(f"alerts: gave up waiting after {drain:g}s; undelivered alerts stay "
                        "pending in runs.db and are retried by the next run")
            self.thread.join(self.delivery.timeout + 1)
        with self.db:  # still queued (the drain ran out): the next run takes them
            self.db.execute("UPDATE alerts SET status = 'pending' WHERE status = 'sending' AND "
                            "owner = ?", (self.owner,))
        self.ledger.close()

    def _work(self) -> None:
        db = sqlite3.connect(self.ledger_path, timeout=30)
        try:
            while (item := self.queue.get()) is not None:
                if not self.stop.is_set():
                    self._deliver(db, *item)
        finally:
            db.close()

    def _deliver(self, db: sqlite3.Connection, alert_id: int, body: dict[str, Any],
                 queued: float) -> None:
        wait, attempts, error = 0.5, 0, ""
        while not self.stop.is_set():
            attempts += 1
            try:
                post(self.delivery, body)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if not retryable(exc):
                    return self._record(db, alert_id, "failed", attempts, error)
                if time.monotonic() + wait - queued > self.delivery.give_up:
                    break
                self.stop.wait(wait)
                wait = min(wait * 2, self.delivery.max_backoff)
                continue
            return self._record(db, alert_id, "sent", attempts, None)
        log.warning(f"alerts: {self.delivery.url} did not take the {body['event']} alert for "
                    f"{body.get('file') or body['model']} ({error}); it stays pending")
        self._record(db, alert_id, "pending", attempts, error)
        return None

    @staticmethod
    def _record(db: sqlite3.Connection, alert_id: int, status: str, attempts: int,
                error: str | None) -> None:
        if status == "failed":
            log.warning(f"alerts: refused ({error}); not retried — check --alert-webhook")
        with db:
            db.execute("UPDATE alerts SET status = ?, attempts = attempts + ?, last_error = ?, "
                       "sent_at = ? WHERE id = ?",
                       (status, attempts, error, now(TIMESPEC) if status == "sent" else None,
                        alert_id))
