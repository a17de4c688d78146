"""The run ledger: `<workspace>/runs.db`, SQLite in WAL mode, one row per file per batch run.

Each file's row is committed as soon as that file is done, so nothing is lost when the process
dies; a run still marked 'running' whose inbox lock is free was killed, and the next run on the
same inbox marks it 'interrupted'. Readers (the dashboard, `anomaly runs`) may open the file
read-only with plain `sqlite3` while a run writes. The schema is a contract with those readers
(and with tests/dashboards, which build ledgers from `SCHEMA`): change it only together with them.

Example:
    >>> ledger = Ledger(Path("/tmp/ws"))  # doctest: +SKIP
    >>> run = ledger.start_run("toy", 1, 1, "inbox", "outbox", "local")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from anomaly.clock import now, parse_duration
from anomaly.errors import InputError, LedgerError, MachineError

LEDGER_FILE = "runs.db"
RUN_STATUSES = ("running", "ok", "failed", "interrupted")
FILE_STATUSES = ("ok", "failed", "skipped")
# runs.db orders rows by their time text, so every stamp in it has this one precision:
# write them with `anomaly.clock.now(TIMESPEC)`.
TIMESPEC = "milliseconds"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
    model TEXT, model_version INTEGER, threshold_version INTEGER,
    inbox TEXT, outbox TEXT, engine TEXT,
    status TEXT NOT NULL,
    files_ok INTEGER NOT NULL DEFAULT 0, files_failed INTEGER NOT NULL DEFAULT 0,
    files_skipped INTEGER NOT NULL DEFAULT 0, rows INTEGER NOT NULL DEFAULT 0,
    anomalies INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    input_path TEXT NOT NULL, input_sha256 TEXT NOT NULL,
    model TEXT, model_version INTEGER, threshold_version INTEGER, threshold REAL,
    status TEXT NOT NULL, error TEXT,
    rows INTEGER, anomalies INTEGER, anomaly_rate REAL,
    score_p50 REAL, score_p90 REAL, score_p99 REAL, score_max REAL,
    started_at TEXT, finished_at TEXT, seconds REAL, output_path TEXT
);
CREATE INDEX IF NOT EXISTS files_done
    ON files (input_sha256, model, model_version, threshold_version, status);
CREATE INDEX IF NOT EXISTS files_run ON files (run_id);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
"""

# The schema's history: MIGRATIONS[i] takes a ledger from version i to i + 1 (`PRAGMA
# user_version`). Append a script to change the schema; never edit one that has shipped.
# webhook alerts sent by `anomaly batch --alert-webhook` (anomaly.jobs.alerts): one per key
ALERTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, event TEXT NOT NULL,
    model TEXT, model_version INTEGER, threshold_version INTEGER, input_path TEXT,
    run_id TEXT, created_at TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL
    DEFAULT 0, sent_at TEXT, last_error TEXT, owner TEXT, body TEXT NOT NULL
);
"""
# analysts' marks of flagged items (anomaly.jobs.feedback): one per model, scored file, item
FEEDBACK_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL, model_version INTEGER, scored_file TEXT NOT NULL, item TEXT NOT NULL,
    row INTEGER, anomaly_score REAL, verdict TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    marked_by TEXT, marked_at TEXT NOT NULL,
    UNIQUE (model, scored_file, item)
);
CREATE INDEX IF NOT EXISTS feedback_model ON feedback (model, model_version);
"""
MIGRATIONS: tuple[str, ...] = (
    SCHEMA,  # 1: runs and files (ledgers written before versioning hold exactly this)
    "ALTER TABLE runs ADD COLUMN error TEXT;",  # 2: why a run failed (disk full, …)
    FEEDBACK_SCHEMA,  # 3: analyst feedback
    ALERTS_SCHEMA,  # 4: webhook alerts, each sent once
    # 5: logs — share of a file's lines that match no training template (template drift)
    "ALTER TABLE files ADD COLUMN unknown_share REAL;",
)
OWN_TABLES = {"runs", "files", "sqlite_sequence"}


@dataclass
class FileRecord:
    """One file's outcome in one run (a `files` row)."""

    input_path: str
    input_sha256: str
    model: str
    model_version: int
    threshold_version: int
    threshold: float
    status: str
    started_at: str
    finished_at: str
    seconds: float
    error: str | None = None
    rows: int | None = None
    anomalies: int | None = None
    anomaly_rate: float | None = None
    score_p50: float | None = None
    score_p90: float | None = None
    score_p99: float | None = None
    score_max: float | None = None
    output_path: str | None = None
    unknown_share: float | None = None  # logs: share of lines matching no training template


def migrate(db: sqlite3.Connection, path: Path, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring the ledger at `path` to the newest schema version; returns that version.

    Refuses (`LedgerError`) a database of another program (tables of its own, no version) and a
    ledger written by a newer anomaly (a version beyond `migrations`).
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(migrations):
        raise LedgerError(f"{path}: ledger schema version {version} is newer than this anomaly "
                          f"knows ({len(migrations)}) — upgrade anomaly, or use another "
                          "--workspace")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0 and tables - OWN_TABLES:
        raise LedgerError(f"{path}: holds tables of another program "
                          f"({', '.join(sorted(tables - OWN_TABLES))}), not a run ledger — move "
                          "it away or use another --workspace")
    for number in range(version, len(migrations)):
        with db:
            db.executescript(f"BEGIN; {migrations[number]}; PRAGMA user_version = "
                             f"{number + 1}; COMMIT;")
    return len(migrations)


def ledger_error(path: Path, exc: sqlite3.Error, doing: str) -> LedgerError:
    """The `LedgerError` for an SQLite failure on `path`: the file, the cause and the fix."""
    cause = str(exc) or type(exc).__name__
    if path.is_dir():
        fix = "it is a folder: move it away (a ledger is a file)"
    elif "not a database" in cause or "malformed" in cause:
        fix = ("it is corrupt or not a ledger: move it away (a new one is made on the next "
               "`anomaly batch`) or restore it from a backup")
    else:
        fix = "check that the workspace folder exists and is writable, or pass another --workspace"
    return LedgerError(f"{path}: cannot {doing} the run ledger ({cause}) — {fix}")


class Ledger:
    """Writer of `runs.db` (one connection, autocommit off, one transaction per event)."""

    def __init__(self, workspace: Path) -> None:
        self.path = Path(workspace) / LEDGER_FILE
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise ledger_error(self.path, exc, "open") from exc
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a committed file row survives power loss
            self.db.execute("PRAGMA busy_timeout=30000")
            migrate(self.db, self.path)
        except sqlite3.Error as exc:
            self.db.close()
            raise ledger_error(self.path, exc, "open") from exc
        except LedgerError:
            self.db.close()
            raise

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One committed transaction; a failed write (disk full…) is the machine's fault."""
        try:
            with self.db:
                yield
        except sqlite3.OperationalError as exc:
            raise MachineError(f"{self.path}: cannot write the run ledger ({exc}) — free "
                                   "space or fix the workspace's permissions, then run "
                                   "again") from exc

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- runs
    def start_run(self, model: str, model_version: int, threshold_version: int, inbox: str,
                  outbox: str, engine: str) -> str:
        """Insert a 'running' run and return its id (sortable: start time + random suffix)."""
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"
        with self._writing():
            self.db.execute(
                "INSERT INTO runs (run_id, started_at, model, model_version, threshold_version,"
                " inbox, outbox, engine, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')",
                (run_id, now(TIMESPEC), model, model_version, threshold_version, inbox, outbox,
                 engine))
        return run_id

    def interrupt_stale(self, inbox: str) -> list[str]:
        """Mark runs on `inbox` still 'running' as 'interrupted' (call while holding its lock)."""
        with self._writing():
            stale = [r[0] for r in self.db.execute(
                "SELECT run_id FROM runs WHERE status = 'running' AND inbox = ?", (inbox,))]
            self.db.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE run_id = ?",
                [(now(TIMESPEC), run_id) for run_id in stale])
        return stale

    def finish_run(self, run_id: str, error: str | None = None) -> str:
        """Close a run: 'failed' when any file failed or `error` (the run's own failure) is
        given, else 'ok'. Returns the status."""
        with self._writing():
            failed = self.db.execute("SELECT files_failed FROM runs WHERE run_id = ?",
                                     (run_id,)).fetchone()[0]
            status = "failed" if failed or error else "ok"
            self.db.execute("UPDATE runs SET status = ?, finished_at = ?, error = ? "
                            "WHERE run_id = ?", (status, now(TIMESPEC), error, run_id))
        return status

    # ---------------------------------------------------------------- files
    def done(self, sha256: str, model: str, model_version: int, threshold_version: int,
             output_path: str) -> sqlite3.Row | None:
        """The 'ok' row of an earlier run with the same content, model, threshold version and
        output path, whose output still exists (a deleted output is made again)."""
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM files WHERE input_sha256 = ? AND model = ? AND model_version = ? AND "
            "threshold_version = ? AND output_path = ? AND status = 'ok' ORDER BY id DESC "
            "LIMIT 1", (sha256, model, model_version, threshold_version, output_path)
        ).fetchone()
        return row if row is not None and Path(output_path).is_file() else None

    def record_file(self, run_id: str, record: FileRecord) -> None:
        """Insert one file's row and update its run's totals, in one committed transaction."""
        if record.status not in FILE_STATUSES:
            raise ValueError(f"file status {record.status!r} is not one of {FILE_STATUSES}")
        values = asdict(record)
        columns = ", ".join(["run_id", *values])
        marks = ", ".join("?" * (len(values) + 1))
        counter = {"ok": "files_ok", "failed": "files_failed", "skipped": "files_skipped"}
        with self._writing():
            self.db.execute(f"INSERT INTO files ({columns}) VALUES ({marks})",
                            (run_id, *values.values()))
            self.db.execute(
                f"UPDATE runs SET {counter[record.status]} = {counter[record.status]} + 1, "
                "rows = rows + ?, anomalies = anomalies + ? WHERE run_id = ?",
                ((record.rows or 0) if record.status == "ok" else 0,
                 (record.anomalies or 0) if record.status == "ok" else 0, run_id))


# ------------------------------------------------------------------- reading
def connect_readonly(workspace: Path) -> sqlite3.Connection | None:
    """A read-only connection to `<workspace>/runs.db`, or None when there are no runs yet."""
    path = Path(workspace) / LEDGER_FILE
    if not path.exists():
        return None
    if path.is_dir():
        raise ledger_error(path, sqlite3.OperationalError("a folder"), "read")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise ledger_error(path, exc, "read") from exc
    db.row_factory = sqlite3.Row
    return db


def _read(workspace: Path, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows of a query on the ledger; [] when there is none yet (or it is a new, empty file)."""
    db = connect_readonly(workspace)
    if db is None:
        return []
    path = Path(workspace) / LEDGER_FILE
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return []  # an empty file: no run has been recorded yet
        if not {"runs", "files"} <= tables:
            raise LedgerError(f"{path}: not a run ledger (tables: {', '.join(sorted(tables))}) "
                              "— move it away or use another --workspace")
        return [dict(r) for r in db.execute(query, params)]
    except sqlite3.Error as exc:
        raise ledger_error(path, exc, "read") from exc
    finally:
        db.close()


def list_runs(workspace: Path, model: str | None = None, since: str | None = None,
              limit: int = 50) -> list[dict[str, Any]]:
    """Newest runs first, optionally for one model and since a time (see `parse_since`)."""
    query, params = "SELECT * FROM runs WHERE 1 = 1", []
    if model:
        query += " AND model = ?"
        params.append(model)
    if since:
        query += " AND started_at >= ?"
        params.append(parse_since(since))
    query += " ORDER BY started_at DESC LIMIT ?"
    return _read(workspace, query, (*params, limit))


def list_files(workspace: Path, run_id: str) -> list[dict[str, Any]]:
    """The file rows of one run, in the order they were done."""
    return _read(workspace, "SELECT * FROM files WHERE run_id = ? ORDER BY id", (run_id,))


def parse_since(text: str) -> str:
    """`--since` as an ISO UTC time: a duration back from now, or a date/time.

    Durations are those of `anomaly.clock.parse_duration` ('30m', '24h', '7d'); a date/time
    without a zone is taken as UTC.

    Example:
        >>> parse_since("2026-11-28")
        '2026-11-28T00:00:00.000+00:00'
        >>> parse_since("2026-11-28T06:00+02:00")
        '2026-11-28T04:00:00.000+00:00'
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            moment = datetime.now(UTC) - timedelta(seconds=parse_duration(text, "--since"))
        except InputError:
            raise InputError(f"--since {text!r}: give a duration like 24h, 7d, 30m or a "
                             "date/time like 2026-11-28 or 2026-11-28T06:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec=TIMESPEC)
