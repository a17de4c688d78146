"""A raw log cut into byte ranges at line ends, read apart (Dask workers) and merged by key.

The driver plans the ranges (`log_ranges`) and detects the timestamp format once, on the
file's first lines, as the local engine does. Each reader counts its range into a
`SessionState` and returns it as plain lists and arrays (`LogRanges.read`); the driver merges
them in file order (`LogRanges.merge`): counts and lengths add, first line and time take the
min, last the max, new sessions follow in order of their first line. `--session-window`
sessions are closed on the driver only, once merged (a window may span ranges).

Lines without a timestamp at the start of a range (a stack trace cut by the range) take the
time of the line before them, which only the previous range knows: the reader returns them
as text and the driver cuts and counts them with that time, before merging the range.
So the sessions equal the local engine's (tests/jobs/test_dask_logs.py). A `.gz` log cannot
be cut: it is read in one piece (`byte_ranges` gives None), as are files of one range.

The local engine uses the same ranges on a big plain log (`parallel_ranges`): one forked
process per core reads ranges, this process merges and scores. Reading, most of the work, is
bound to one core by Python; so it splits across the cores that are free (the CPU it takes
stays the same: bench/logs_scale.py prints both ways).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from anomaly.core.kind import Model
from anomaly.inorder import in_order
from anomaly.kinds.logs.features import LogFeatures
from anomaly.kinds.logs.lines import (
    BLOCK_BYTES,
    LineParser,
    ReadReport,
    iter_line_blocks,
    line_parser,
)
from anomaly.kinds.logs.stream import SessionState, count_block
from anomaly.kinds.logs.timestamps import TimeParser
from anomaly.spans import Span, line_spans

PARALLEL_MIN_BYTES = 48 << 20  # smaller logs: one process (starting more costs more)
PARALLEL_RANGE_BYTES = 16 << 20
_INHERITED: dict[str, Model] = {}  # the model forked readers inherit: never sent to them


@dataclass(frozen=True)
class LogRanges:
    """The byte ranges of one raw log and its timestamp format (detected by the driver)."""

    path: str
    spans: tuple[Span, ...]
    time_format: str | None

    def read(self, model: Model, index: int) -> dict[str, Any]:
        """Count range `index` (on a worker): its sessions as `SessionState.export()` plus
        ``leading`` (the lines before its first timestamp, for the driver), ``time_after`` (the
        time its last line left for the next range's untimed lines),
        ``report`` and ``kept`` — plain values, numbered as lines of the whole file."""
        features: LogFeatures = model.features
        options, span = features.options, self.spans[index]
        parser = LineParser(options, self.time_format, ReadReport())
        state = SessionState(len(features.templates), options.key_name, options.window)
        leading: list[str] = []
        waiting = span.start > 0 and self.time_format is not None
        for first, lines in iter_line_blocks(Path(self.path), options.max_line_length,
                                             parser.report, BLOCK_BYTES, span):
            if waiting:
                stamped = _first_stamped(parser.parser, lines)
                leading += lines[:stamped]
                if stamped == len(lines):
                    continue
                waiting = False
                first, lines = first + stamped, lines[stamped:]
            count_block(features, parser, state, first, lines)
        return {**state.export(), "leading": leading, "leading_from": span.lines_before + 1,
                "time_after": parser.last_time, "report": asdict(parser.report),
                "kept": parser.kept}

    def merge(self, model: Model, parts: Iterable[dict[str, Any]]) -> Iterator[pd.DataFrame]:
        """The sessions of the whole file from its ranges' `read` results, in file order."""
        features: LogFeatures = model.features
        options, path = features.options, Path(self.path)
        parser = LineParser(options, self.time_format, ReadReport())
        state = SessionState(len(features.templates), options.key_name, options.window)
        for part in parts:
            if part["leading"]:  # they take the time of the previous range's last line
                count_block(features, parser, state, part["leading_from"], part["leading"])
            state.merge(part)
            if part["time_after"] is not None:
                parser.last_time = part["time_after"]
            parser.report.add(ReadReport(**part["report"]))
            parser.kept += part["kept"]
            yield from state.close_due()
        parser.finish(path)
        state.warn_late(path)
        yield from state.close_all()


def _first_stamped(times: TimeParser, lines: list[str]) -> int:
    """Position of the first line starting with a timestamp (len(lines): none does)."""
    for i, text in enumerate(lines):
        if times.split(text)[0] is not None:
            return i
    return len(lines)


def log_ranges(features: LogFeatures, path: Path, range_bytes: int) -> LogRanges | None:
    """`path` cut into ranges of about `range_bytes`; None when it cannot or need not be cut
    (a CSV of events, a `.gz` log, a log of one range)."""
    if features.options.form != "text" or path.suffix.lower() == ".gz":
        return None
    fmt = line_parser(path, features.options, features.time_format).fmt  # checks the file
    spans = line_spans(path, range_bytes)
    return LogRanges(str(path), tuple(spans), fmt) if len(spans) > 1 else None


def parallel_ranges(model: Model, path: Path) -> LogRanges | None:
    """Ranges for reading `path` in forked processes here, when it pays: a plain raw log of
    at least PARALLEL_MIN_BYTES, more than one core, and this is the main thread of a Linux
    process that may fork (not a Dask worker; macOS forks unsafely once threads run).
    ``ANOMALY_LOG_PROCESSES=1`` turns it off."""
    if (_cores() < 2 or not sys.platform.startswith("linux")
            or path.suffix.lower() == ".gz" or not path.is_file()
            or path.stat().st_size < PARALLEL_MIN_BYTES
            or threading.current_thread() is not threading.main_thread()
            or multiprocessing.current_process().daemon):
        return None
    return log_ranges(model.features, path, PARALLEL_RANGE_BYTES)


def read_in_processes(model: Model, ranges: LogRanges) -> Iterator[pd.DataFrame]:
    """The sessions of `ranges` read by one forked process per core, merged here in order.

    The processes are forked now, in the calling thread (before a reading thread starts);
    they inherit the model and send back only each range's plain state, a few ranges in
    flight per process (bounded memory). A reader that dies stops the run (BrokenProcessPool).
    """
    workers = min(_cores(), len(ranges.spans))
    _INHERITED["model"] = model
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    states = in_order(lambda i: pool.submit(_read_inherited, ranges, i),  # forks them all
                      range(len(ranges.spans)), 2 * workers)
    return _merged(model, ranges, pool, states)


def _cores() -> int:
    """Reading processes: ANOMALY_LOG_PROCESSES if set (1 = read here), else one per core."""
    return int(os.environ.get("ANOMALY_LOG_PROCESSES", "0")) or (os.cpu_count() or 1)


def _merged(model: Model, ranges: LogRanges, pool: ProcessPoolExecutor,
            states: Iterator[dict[str, Any]]) -> Iterator[pd.DataFrame]:
    """The sessions of the ranges' states (a reader's InputError is re-raised as is)."""
    try:
        yield from ranges.merge(model, states)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        _INHERITED.clear()


def _read_inherited(ranges: LogRanges, index: int) -> dict[str, Any]:
    return ranges.read(_INHERITED["model"], index)
