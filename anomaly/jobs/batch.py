"""One batch run: score every new file of an inbox into an outbox, exactly once, crash-safe.

Rules (README "Batch scoring"):
- a file is scored once per (content SHA-256, model, model version, threshold version, output
  path) while that output exists; later runs skip it (a 'skipped' ledger row), a changed file,
  a new model/threshold version, another outbox or a deleted output is scored again;
- only regular files are read: symlinks, FIFOs and devices in the inbox are skipped (counted and
  noted); a file must be unchanged for the settle age (`--settle`, 2 s): the run waits for
  young files once, and one still changing (being written) is left for the next run;
- the output is written under a temporary name and renamed when complete; the ledger row is
  committed right after the rename, so a crash between the two re-scores the file next time and
  the rename replaces the output with the same content: the ledger shows it 'ok' once;
- a file that cannot be scored is moved to the quarantine folder beside `<name>.error.txt`; the
  other files go on, and the run's exit code is 3;
- a fault of the machine (outbox unwritable, missing or full, ledger unwritable) is not the
  input's: the run stops, the file stays in the inbox, the ledger records the run as failed with
  the cause, and the exit code is 1;
- temporary outputs are named by their owner (host and pid): a run removes only those of dead
  processes on its host, never the temps of another run sharing the outbox;
- `fcntl.flock` on `<inbox>/.anomaly-batch.lock` keeps two runs off the same inbox; the kernel
  releases it when a process dies, even by `kill -9`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from anomaly.atomic import TEMP_SUFFIX, write_text
from anomaly.bundle import sha256_file
from anomaly.clock import now
from anomaly.errors import AnomalyError, InputError, LockedError, MachineError, OutputError
from anomaly.jobs.ledger import TIMESPEC, FileRecord, Ledger
from anomaly.jobs.score import Bars, ScoreSummary, score_file
from anomaly.kinds.logs.drift import detector_note
from anomaly.outputs import check_target
from anomaly.text import count

log = logging.getLogger("anomaly")

LOCK_FILE = ".anomaly-batch.lock"
SETTLE_SECONDS = 2.0  # a file modified more recently may still be being written
# what cannot be scored is quarantined; anything else is a bug and stops the run (exit 1)
FILE_ERRORS: tuple[type[BaseException], ...] = (AnomalyError, OSError, pa.ArrowException)
KEEP_FLAGGED = 5  # the highest flagged rows a file's summary keeps (for alerts)
# called after each scored or quarantined file, once its ledger row is committed:
# (the row, the summary when it was scored, the run id) — alerts hang on it
FileHook = Callable[[FileRecord, ScoreSummary | None, str], None]


class Engine(Protocol):
    """Scores one file into an output path (atomically); see `LocalEngine`."""

    name: str

    def score(self, detector: Any, path: Path, output: Path, threshold: float | None,
              on_bad_rows: str | None) -> ScoreSummary: ...


class LocalEngine:
    """Scores in this process, chunk by chunk (`anomaly.jobs.score`); `bars(path)`, when given,
    is the progress bar of each file (a context yielding the function told rows, or None)."""

    name = "local"

    def __init__(self, bars: Bars | None = None) -> None:
        self.bars = bars

    def score(self, detector: Any, path: Path, output: Path, threshold: float | None,
              on_bad_rows: str | None) -> ScoreSummary:
        with self.bars(path) if self.bars else contextlib.nullcontext() as progress:
            return score_file(detector, path, output, threshold, on_bad_rows,
                              keep_flagged=KEEP_FLAGGED, progress=progress)


@dataclass
class BatchOptions:
    """What one batch run reads, writes and how."""

    inbox: Path
    outbox: Path
    patterns: tuple[str, ...] = ()  # default: the files the model's kind reads
    quarantine: Path | None = None  # default: <inbox>/quarantine
    output_format: str = "csv"
    on_bad_rows: str | None = None
    settle: float = SETTLE_SECONDS

    @property
    def quarantine_dir(self) -> Path:
        return self.quarantine or self.inbox / "quarantine"


@dataclass
class BatchResult:
    """Outcome of one run (also in the ledger)."""

    run_id: str
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    rows: int = 0
    anomalies: int = 0
    stopped: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 3 if self.failed else 0


@contextlib.contextmanager
def inbox_lock(inbox: Path) -> Iterator[Path]:
    """Hold an exclusive lock on the inbox for the block, or raise `LockedError` at once."""
    path = inbox / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(
                f"{inbox}: another `anomaly batch` run ({holder}) is working on this inbox — "
                "wait for it to finish or stop it; the lock is freed when that process ends"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {now(TIMESPEC)}")
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock


@dataclass
class Inbox:
    """What a run found in its inbox: files to score and what it left alone."""

    files: list[Path]
    not_regular: list[Path] = field(default_factory=list)
    settling: dict[Path, tuple[int, int]] = field(default_factory=dict)  # (size, mtime ns)


def discover(inbox: Path, patterns: tuple[str, ...], settle: float = SETTLE_SECONDS) -> Inbox:
    """Regular files in the inbox (not sub-folders) matching any pattern; hidden files are
    ignored, symlinks and special files skipped, files modified within `settle` seconds left."""
    if not inbox.is_dir():
        raise InputError(f"--inbox {inbox}: folder not found — create it or fix the path")
    found = sorted({p for pattern in patterns for p in inbox.glob(pattern)
                    if not p.name.startswith(".")})
    result, recent = Inbox([]), time.time() - settle
    for path in found:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            continue
        if not stat.S_ISREG(info.st_mode):
            result.not_regular.append(path)
        elif info.st_mtime > recent:
            result.settling[path] = (info.st_size, info.st_mtime_ns)
        else:
            result.files.append(path)
    return result


def settle_files(found: Inbox, settle: float) -> Inbox:
    """Wait (once, at most `settle` seconds) until the young files are `settle` seconds old;
    those unchanged meanwhile are scored, those still changing are left for the next run."""
    if not found.settling:
        return found
    newest = max(mtime for _, mtime in found.settling.values()) / 1e9
    time.sleep(min(settle, max(0.0, newest + settle - time.time())))
    still: dict[Path, tuple[int, int]] = {}
    for path, seen in found.settling.items():
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if (info.st_size, info.st_mtime_ns) == seen and stat.S_ISREG(info.st_mode):
            found.files.append(path)
        else:
            still[path] = (info.st_size, info.st_mtime_ns)
    return Inbox(sorted(found.files), found.not_regular, still)


def output_for(path: Path, options: BatchOptions, stem_shared: bool = False) -> Path:
    """`<outbox>/<input stem>.scored.<csv|parquet>`; `<input name>.scored.…` instead when
    another inbox file has the same stem (`a.csv` and `a.parquet`), so neither output is lost."""
    name = path.name if stem_shared else path.stem
    return options.outbox / f"{name}.scored.{options.output_format}"


def clean_stale_temps(outbox: Path) -> int:
    """Delete temporary outputs (`.<name>.scored.….<host>-<pid>.tmp`) whose owner process on
    this host is gone; temps of live processes and of other hosts are left alone."""
    owned = re.compile(rf"\.{re.escape(os.uname().nodename)}-(\d+){re.escape(TEMP_SUFFIX)}$")
    count = 0
    for tmp in outbox.glob(f".*.scored.*{TEMP_SUFFIX}"):
        found = owned.search(tmp.name)
        if found and not alive(int(found.group(1))):
            tmp.unlink(missing_ok=True)
            count += 1
    return count


def alive(pid: int) -> bool:
    """True while a process `pid` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def check_outbox(options: BatchOptions) -> None:
    """Create the outbox if needed; refuse one that is the inbox or not a folder (before work)."""
    outbox = options.outbox
    if outbox.exists() and not outbox.is_dir():
        raise OutputError(f"--outbox {outbox}: exists and is not a folder — pass a folder")
    if outbox.exists() and outbox.samefile(options.inbox):
        raise OutputError(f"--outbox {outbox}: is the inbox — scored files would be read as new "
                          "inputs; pass another folder")
    try:
        outbox.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MachineError(f"--outbox {outbox}: cannot be created ({exc.strerror}) — create "
                               "it or fix the path and permissions") from exc


def quarantine(path: Path, error: str, folder: Path) -> Path:
    """Move `path` into `folder` beside `<name>.error.txt` saying why; returns the new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{time.strftime('%Y%m%dT%H%M%S')}{path.suffix}"
    write_text(f"{path} could not be scored at {now(TIMESPEC)}:\n{error}\n\nFix the file and "
               "drop it into the inbox again.\n", target.with_name(target.name + ".error.txt"))
    path.replace(target)
    return target


def run_batch(detector: Any, ledger: Ledger, options: BatchOptions, engine: Engine | None = None,
              stop: Callable[[], bool] = lambda: False,
              echo: Callable[[str], None] = print,
              on_file: FileHook | None = None) -> BatchResult:
    """One run over the inbox (hold `inbox_lock` around it). `stop()` is checked between files;
    `on_file` is called after each file that was scored or quarantined."""
    engine = engine or LocalEngine()
    meta = detector.meta_
    model, model_version = str(meta["name"]), int(meta["version"])
    threshold_version = int(detector.threshold_info_["version"])
    threshold = float(detector.threshold_)
    inbox, outbox = str(options.inbox.resolve()), str(options.outbox.resolve())
    for run_id in ledger.interrupt_stale(inbox):
        echo(f"run {run_id} was interrupted (its process died); marked 'interrupted'")
    check_outbox(options)
    clean_stale_temps(options.outbox)
    found = settle_files(discover(options.inbox, options.patterns or
                                  detector.kind_.file_patterns, options.settle), options.settle)
    _note_left(found, options.settle)
    files = found.files
    result = BatchResult(ledger.start_run(model, model_version, threshold_version, inbox, outbox,
                                          engine.name))
    key = {"model": model, "model_version": model_version,
           "threshold_version": threshold_version, "threshold": threshold}
    hook: FileHook = on_file or (lambda record, summary, run_id: None)
    stems = Counter(p.stem for p in files)
    error: str | None = None
    try:
        for path in files:
            if stop():
                result.stopped = True
                break
            output = output_for(path, options, stems[path.stem] > 1)
            _one_file(path, output, detector, ledger, options, engine, result, key, echo, hook)
    except (MachineError, OutputError) as exc:
        error = str(exc)
        raise
    finally:
        with contextlib.suppress(MachineError):  # a broken ledger: the error says so
            status = ledger.finish_run(result.run_id, error)
            echo(f"run {result.run_id} {status}: {result.ok} scored, {result.skipped} already "
                 f"done, {result.failed} quarantined; "
                 f"{count(result.rows, detector.kind_.item)}, "
                 f"{result.anomalies:,} flagged")
    return result


def _note_left(found: Inbox, settle: float) -> None:
    """Say what the run leaves alone (a note, not an error)."""
    if found.not_regular:
        log.warning("%d inbox entr%s skipped: not regular files (symlinks, pipes, devices): %s",
                    len(found.not_regular), "y" if len(found.not_regular) == 1 else "ies",
                    ", ".join(p.name for p in found.not_regular[:5]))
    if found.settling:
        log.warning("%d file(s) still changing in the last %gs left for the next run (being "
                    "written): %s", len(found.settling), settle,
                    ", ".join(p.name for p in list(found.settling)[:5]))


def _one_file(path: Path, output: Path, detector: Any, ledger: Ledger, options: BatchOptions,
              engine: Engine, result: BatchResult, key: dict[str, Any],
              echo: Callable[[str], None], hook: FileHook) -> None:
    started, clock = now(TIMESPEC), time.perf_counter()
    record = {"input_path": str(path.resolve()), "started_at": started, **key}
    try:
        digest = sha256_file(path)
    except OSError as exc:
        digest = ""
        return _failed(path, exc, ledger, options, result, record, digest, clock, echo, hook)
    if ledger.done(digest, key["model"], key["model_version"], key["threshold_version"],
                   str(output.resolve())):
        result.skipped += 1
        ledger.record_file(result.run_id, FileRecord(
            **record, input_sha256=digest, status="skipped", finished_at=now(TIMESPEC),
            seconds=round(time.perf_counter() - clock, 3), output_path=str(output.resolve())))
        return None
    check_target(output, [path])
    before = path.stat()
    try:
        summary = engine.score(detector, path, output, None, options.on_bad_rows)
    except MachineError as exc:
        raise MachineError(f"{exc} ({path.name} and the files after it were left in "
                               f"{options.inbox})") from exc
    except FILE_ERRORS as exc:
        return _failed(path, exc, ledger, options, result, record, digest, clock, echo, hook)
    except Exception as exc:
        ledger.record_file(result.run_id, FileRecord(
            **record, input_sha256=digest, status="failed", finished_at=now(TIMESPEC),
            seconds=round(time.perf_counter() - clock, 3),
            error=f"internal error: {type(exc).__name__}: {exc}"))
        raise
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        echo(f"{path.name}: changed while it was scored — left for the next run")
        return None
    q = summary.quantiles
    done = FileRecord(
        **record, input_sha256=digest, status="ok", finished_at=now(TIMESPEC),
        seconds=round(time.perf_counter() - clock, 3), rows=summary.rows,
        anomalies=summary.anomalies, anomaly_rate=summary.anomaly_rate,
        score_p50=q.get("p50"), score_p90=q.get("p90"), score_p99=q.get("p99"),
        score_max=q.get("max"), output_path=str(output.resolve()),
        unknown_share=summary.unknown_share)
    ledger.record_file(result.run_id, done)
    result.ok += 1
    result.rows += summary.rows
    result.anomalies += summary.anomalies
    echo(f"{path.name}: {count(summary.rows, detector.kind_.item)}, "
         f"{summary.anomalies:,} flagged "
         f"({summary.anomaly_rate:.2%}) → {output}")
    hook(done, summary, result.run_id)
    note = detector_note(summary.unknown_share, key["model"], detector.features_)
    if note:
        echo(f"note: {path.name}: {note}")
    return None


def _failed(path: Path, exc: BaseException, ledger: Ledger, options: BatchOptions,
            result: BatchResult, record: dict[str, Any], digest: str, clock: float,
            echo: Callable[[str], None], hook: FileHook) -> None:
    message = str(exc) if isinstance(exc, AnomalyError) else f"{type(exc).__name__}: {exc}"
    moved: Path | None = None
    with contextlib.suppress(OSError, MachineError):
        moved = quarantine(path, message, options.quarantine_dir)
    failed = FileRecord(
        **record, input_sha256=digest, status="failed", finished_at=now(TIMESPEC),
        seconds=round(time.perf_counter() - clock, 3), error=message, output_path=None)
    ledger.record_file(result.run_id, failed)
    result.failed += 1
    result.failures.append(f"{path.name}: {message}")
    where = f"moved to {moved}" if moved else "could not be moved to quarantine"
    echo(f"{path.name}: FAILED — {message} ({where})")
    hook(failed, None, result.run_id)
