"""Streaming log sessions: a file of any size read in blocks into per-session counts.

Per open session only what the features need is kept: its count per template, its length,
its unknown-template count, first/last line number and first/last time — never its lines.
`--session-window` sessions close (and are scored) once the log's time has moved one more
window past their end; `--session-regex` sessions and whatever is still open close at the
end of the input. Sessions come out in order of their first line, as whole-file reading
gives them, so the scores are the same (tests/kinds/logs/test_stream.py).

Example:
    >>> state = SessionState(2, "session")
    >>> state.add([1, 2, 3], ["a", "b", "a"], [0.0, 1.0, 2.0], np.array([0, 1, -1]))
    >>> frame = next(state.close_all())
    >>> frame[["session", "last_line", "n_lines", "_t0", "_t1", "_unknown"]].values.tolist()
    [['a', 3, 2, 1, 0, 1], ['b', 2, 1, 0, 1, 0]]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly.errors import InputError
from anomaly.io import check_readable, is_parquet, read_error
from anomaly.kinds.logs.features import UNKNOWN_COUNT, LogFeatures, count_columns
from anomaly.kinds.logs.lines import BLOCK_BYTES, LineParser, iter_line_blocks, line_parser
from anomaly.kinds.logs.sessions import check_event_columns, sessions_from_events
from anomaly.kinds.logs.timestamps import format_times

log = logging.getLogger("anomaly")

EMIT_ROWS = 50_000  # sessions per scored frame


class SessionState:
    """Counts of the open sessions, in order of their first line (see the module docstring).

    `text_times`: times are texts kept as given (CSV of events: first and last row's time);
    otherwise epoch seconds (raw lines: earliest and latest known time).
    """

    def __init__(self, n_templates: int, key_name: str, window: float | None = None,
                 text_times: bool = False) -> None:
        self.n_templates, self.key_name, self.window = n_templates, key_name, window
        self.text_times = text_times
        self.index: dict[str, int] = {}
        self.keys: list[str] = []  # open sessions; position = session number - base
        self.base = 0
        self.size = 0
        self.latest = -np.inf  # latest time seen (windows close behind it)
        self.late = 0  # windows that got lines after they could have closed
        self.a: dict[str, np.ndarray] = {}
        self._alloc(1024)

    def _alloc(self, capacity: int) -> None:
        time_type: Any = object if self.text_times else np.float64
        fresh: dict[str, np.ndarray] = {"counts": np.zeros((capacity, self.n_templates), np.int32),
                 "n_lines": np.zeros(capacity, np.int64),
                 "unknown": np.zeros(capacity, np.int64),
                 "first_line": np.zeros(capacity, np.int64),
                 "last_line": np.zeros(capacity, np.int64),
                 "first_time": np.full(capacity, np.nan, time_type),
                 "last_time": np.full(capacity, np.nan, time_type),
                 "start": np.zeros(capacity, np.float64)}
        for name, array in fresh.items():
            if self.size:
                array[:self.size] = self.a[name][:self.size]
        self.a = fresh

    def add(self, numbers: list[int], keys: list[str], times: list[Any],
            ids: np.ndarray) -> None:
        """Count one block of keyed lines (numbers, keys, times, template ids; -1 = unknown)."""
        index, get = self.index, self.index.get
        new_at: list[int] = []
        positions: list[int] = []
        append = positions.append
        next_id = self.base + len(self.keys)
        for j, key in enumerate(keys):
            session = get(key)
            if session is None:
                session = index[key] = next_id
                next_id += 1
                self.keys.append(key)
                new_at.append(j)
            append(session)
        local = np.asarray(positions, dtype=np.int64) - self.base
        if len(self.keys) > len(self.a["n_lines"]):
            self._alloc(max(len(self.keys), 2 * len(self.a["n_lines"])))
        self.size = len(self.keys)
        a = self.a
        first = np.asarray(new_at, dtype=np.int64)
        line_no = np.asarray(numbers, dtype=np.int64)
        new = local[first]
        a["first_line"][new] = line_no[first]
        known = ids >= 0
        np.add.at(a["counts"], (local[known], ids[known]), 1)
        np.add.at(a["n_lines"], local, 1)
        np.add.at(a["unknown"], local[~known], 1)
        np.maximum.at(a["last_line"], local, line_no)
        if self.text_times:
            a["first_time"][new] = [times[j] for j in new_at]
            last = a["last_time"]
            for position, value in zip(local.tolist(), times, strict=True):
                last[position] = value
            return
        stamps = np.array(times, dtype=np.float64)
        np.fmin.at(a["first_time"], local, stamps)
        np.fmax.at(a["last_time"], local, stamps)
        if self.window is not None and len(stamps):
            starts = stamps[first] - stamps[first] % self.window
            a["start"][new] = starts
            self.late += int(np.count_nonzero(starts <= self.latest - 2 * self.window))
            if not np.isnan(stamps).all():
                self.latest = max(self.latest, float(np.nanmax(stamps)))

    def export(self) -> dict[str, Any]:
        """The open sessions as plain lists and arrays (what a byte range's reader returns)."""
        return {"keys": list(self.keys), **{name: array[:self.size].copy()
                                            for name, array in self.a.items()}}

    def merge(self, part: dict[str, Any]) -> None:
        """Add `export()` of a reader of later lines (the next byte range of the file): counts
        and lengths add, last line and time take the max, first time the min; sessions new
        here follow in `part`'s order (of their first line)."""
        index, keys = self.index, part["keys"]
        positions = np.empty(len(keys), dtype=np.int64)
        new_at: list[int] = []
        next_id = self.base + len(self.keys)
        for j, key in enumerate(keys):
            session = index.get(key)
            if session is None:
                session = index[key] = next_id
                next_id += 1
                self.keys.append(key)
                new_at.append(j)
            positions[j] = session
        if len(self.keys) > len(self.a["n_lines"]):
            self._alloc(max(len(self.keys), 2 * len(self.a["n_lines"])))
        self.size = len(self.keys)
        a, local, first = self.a, positions - self.base, np.asarray(new_at, dtype=np.int64)
        for name in ("first_line", "first_time", "start"):  # the earlier part's value stays
            a[name][local[first]] = part[name][first]
        for name in ("counts", "n_lines", "unknown"):  # keys are unique in a part: no repeats
            a[name][local] += part[name]
        a["last_line"][local] = np.maximum(a["last_line"][local], part["last_line"])
        a["first_time"][local] = np.fmin(a["first_time"][local], part["first_time"])
        a["last_time"][local] = np.fmax(a["last_time"][local], part["last_time"])
        if self.window is not None and len(first):
            self.late += int(np.count_nonzero(part["start"][first]
                                              <= self.latest - 2 * self.window))
            if not np.isnan(part["last_time"]).all():
                self.latest = max(self.latest, float(np.nanmax(part["last_time"])))

    def warn_late(self, path: Path) -> None:
        """Say when windows got lines after they could have closed (the log is out of order)."""
        if self.late:
            log.warning("%s: %d window(s) got lines more than one window after their end (the "
                        "log is out of time order there); those lines were scored as a separate "
                        "row of their window", path, self.late)

    def close_due(self) -> Iterator[pd.DataFrame]:
        """Windows the log's time has moved one window past (a prefix in first-line order)."""
        if self.window is None or not self.size:
            return
        due = self.a["start"][:self.size] + 2 * self.window <= self.latest
        upto = int(np.argmin(due)) if not due.all() else self.size
        if upto:
            yield from self._emit(upto, forget=True)

    def close_all(self) -> Iterator[pd.DataFrame]:
        """Every session still open (end of input)."""
        yield from self._emit(self.size, forget=False)

    def _emit(self, upto: int, forget: bool) -> Iterator[pd.DataFrame]:
        for start in range(0, upto, EMIT_ROWS):
            yield self._frame(start, min(upto, start + EMIT_ROWS))
        if forget:  # closed windows: drop their state (a late line opens a new row)
            for key in self.keys[:upto]:
                del self.index[key]
        self.keys = self.keys[upto:]
        self.base += upto
        self.size -= upto
        self.a = {name: array[upto:].copy() for name, array in self.a.items()}

    def _frame(self, lo: int, hi: int) -> pd.DataFrame:
        a = self.a
        first: Any = a["first_time"][lo:hi]
        last: Any = a["last_time"][lo:hi]
        if not self.text_times:
            first, last = format_times(first), format_times(last)
        frame = pd.DataFrame({self.key_name: self.keys[lo:hi],
                              "first_line": a["first_line"][lo:hi],
                              "last_line": a["last_line"][lo:hi], "first_time": first,
                              "last_time": last, "n_lines": a["n_lines"][lo:hi]})
        counts = pd.DataFrame(a["counts"][lo:hi], columns=count_columns(self.n_templates))
        frame = pd.concat([frame, counts], axis=1)
        frame[UNKNOWN_COUNT] = a["unknown"][lo:hi]
        return frame


def count_block(features: LogFeatures, parser: LineParser, state: SessionState, first: int,
                lines: list[str]) -> bool:
    """Cut a block of raw lines (numbered from `first`) and count its keyed lines into `state`;
    False when none had a key."""
    part = parser.parse(first, lines)
    if not part.keys:
        return False
    ids = np.asarray(features.matcher.match_many(part.contents), dtype=np.int64)
    state.add(part.numbers, part.keys, part.times, ids)
    return True


def stream_text(path: Path, features: LogFeatures,
                block_bytes: int = BLOCK_BYTES) -> Iterator[pd.DataFrame]:
    """Sessions of a raw log file (plain or .gz) as counts, in bounded memory."""
    options = features.options
    parser = line_parser(path, options, features.time_format)
    state = SessionState(len(features.templates), options.key_name, options.window)
    for first, lines in iter_line_blocks(path, options.max_line_length, parser.report,
                                         block_bytes):
        if count_block(features, parser, state, first, lines):
            yield from state.close_due()
    parser.finish(path)
    state.warn_late(path)
    yield from state.close_all()


def iter_events(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A CSV/Parquet of events in chunks, every column as text (as `read_event_table`)."""
    check_readable(path)
    try:
        if is_parquet(path):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas().astype("string")
            return
        yield from pd.read_csv(path, dtype=str, keep_default_na=False,
                               encoding_errors="replace", chunksize=chunk_rows)
    except (ValueError, OSError) as exc:
        raise read_error(path, exc) from None


def stream_events(path: Path, features: LogFeatures, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Sessions of a CSV of events: one per row (sequences) or counted by key (events)."""
    options, source = features.options, str(path)
    state = SessionState(len(features.templates), options.key_name, text_times=True)
    rows = 0
    for chunk in iter_events(path, chunk_rows):
        check_event_columns(chunk, options, source)
        if options.form == "sequences":
            if len(chunk):
                yield sessions_from_events(chunk, options, source, rows)
        elif len(chunk):
            keys = chunk[str(options.session_col)].astype(str).tolist()
            times = (chunk[options.time_col].astype(str).tolist()
                     if options.time_col and options.time_col in chunk.columns
                     else [""] * len(chunk))
            ids = np.asarray(features.template_ids(chunk[str(options.event_col)]
                                                   .astype(str).tolist()), dtype=np.int64)
            state.add(list(range(rows + 1, rows + len(chunk) + 1)), keys, times, ids)
        rows += len(chunk)
    if rows == 0:
        raise InputError(f"{source}: has a header but no rows — add events to the file")
    yield from state.close_all()
