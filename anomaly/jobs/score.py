"""Scoring whole files: chunked reading, incremental atomic writing, a summary of the run."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from anomaly.atomic import atomic_path, write_fault, writing
from anomaly.errors import InputError, ReaderLeft
from anomaly.io import CHUNK_ROWS, CSV_BLOCK_BYTES, is_parquet
from anomaly.jobs.readahead import prefetch
from anomaly.outputs import STDOUT, csv_safe, is_stdout
from anomaly.sidecar import seal, sidecar_path

if TYPE_CHECKING:
    from anomaly.core.kind import Kind, Model
    from anomaly.kinds.timeseries.events import EventCollector


class Scoring(Protocol):
    """What scores a file: a `Detector`, or a bundle loaded for scoring only
    (`anomaly.core.persist.Fitted`, which spares `anomaly score` importing scikit-learn)."""

    @property
    def kind_(self) -> Kind: ...

    @property
    def model_(self) -> Model: ...

    def read_file(self, path: Path, chunk_rows: int, block_bytes: int
                  ) -> Iterator[pd.DataFrame]: ...

    def score_stream(self, chunks: Iterable[pd.DataFrame], source: str,
                     on_bad_rows: str | None = None, threshold: float | None = None,
                     row_offset: int = 0, baseline_rows: int | None = None
                     ) -> Iterator[pd.DataFrame]: ...

Progress = Callable[[int], None]  # told the rows of each chunk read (a progress bar)
Bars = Callable[[Path], "contextlib.AbstractContextManager[Progress | None]"]  # a file's bar


@dataclass
class ScoreSummary:
    """What scoring one file produced."""

    input: Path
    output: Path | None
    rows: int = 0
    anomalies: int = 0
    quantiles: dict[str, float] = field(default_factory=dict)
    flagged: pd.DataFrame | None = None
    events: int | None = None  # alarm events written to `events_path` (time series)
    events_path: Path | None = None
    lines: int = 0  # log lines scored (logs only; the `attrs` of scored frames)
    unknown_lines: int = 0  # of which matching no training template

    @property
    def unknown_share(self) -> float | None:
        """Share of log lines matching no training template (None: not a log)."""
        return self.unknown_lines / self.lines if self.lines else None

    @property
    def anomaly_rate(self) -> float:
        return self.anomalies / self.rows if self.rows else 0.0


class TableWriter:
    """Appends DataFrames to one CSV or Parquet file (schema fixed by the first chunk), and to
    a Parquet `copy` of a CSV when given (`anomaly.sidecar`: the same cells, for the dashboard).

    CSV text cells are made formula-safe (`anomaly.outputs.csv_safe`); `target` names the final
    output in messages: a failed write is an `MachineError` naming it.
    """

    def __init__(self, path: Path, parquet: bool, source: str = "",
                 target: Path | None = None, copy: Path | None = None) -> None:
        self.path, self.parquet, self.source = path, parquet, source or path.name
        self.target = target or path
        self.copy = copy
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self._copy_writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None  # CSVWriter does not expose its schema

    def write(self, frame: pd.DataFrame) -> None:
        table = self.table(frame)
        with writing(self.target):
            if self._writer is None:
                self._writer = (pq.ParquetWriter(self.path, table.schema) if self.parquet
                                else pacsv.CSVWriter(self.path, table.schema))
                if self.copy is not None:  # plain Arrow types: read back as the CSV would be
                    self._copy_writer = pq.ParquetWriter(self.copy,
                                                         table.schema.remove_metadata())
            self._writer.write_table(table)
            if self._copy_writer is not None:
                self._copy_writer.write_table(table.replace_schema_metadata())

    def table(self, frame: pd.DataFrame) -> pa.Table:
        """`frame` as the Arrow table written: the first chunk's types, CSV-safe text."""
        table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            table = self._conform(table, self._schema)
        return table if self.parquet else csv_safe(table)

    def _conform(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        try:
            return table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            bad = [f.name for f in schema if table.schema.field(f.name).type != f.type]
            raise InputError(
                f"{self.source}: column(s) {', '.join(map(repr, bad))} change type part-way "
                f"through the file ({str(exc).splitlines()[0]}) — make the column's values "
                "consistent (e.g. all numbers or all text)") from exc

    def close(self) -> None:
        with writing(self.target):
            if self._writer is not None:
                self._writer.close()
            if self._copy_writer is not None:
                self._copy_writer.close()


class StdoutWriter(TableWriter):
    """Writes CSV chunks to standard output (`-o -`), the header once."""

    def __init__(self, source: str = "") -> None:
        super().__init__(STDOUT, False, source, Path("<standard output>/-"))
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(self.table(frame), sink,
                        pacsv.WriteOptions(include_header=self._header))
        self._header = False
        data = sink.getvalue().to_pybytes()
        buffer = getattr(sys.stdout, "buffer", None)
        try:
            if buffer is not None:
                buffer.write(data)
                buffer.flush()
            else:  # a text stream (tests capturing output)
                sys.stdout.write(data.decode("utf-8"))
        except BrokenPipeError as exc:  # `| head` has what it wanted: the CLI stops quietly
            raise ReaderLeft(str(self.target)) from exc
        except OSError as exc:
            raise write_fault(self.target, exc) from exc

    def close(self) -> None:
        return None


def scored_chunks(detector: Scoring, path: Path, threshold: float | None = None,
                  on_bad_rows: str | None = None, chunk_rows: int = CHUNK_ROWS,
                  block_bytes: int = CSV_BLOCK_BYTES, progress: Progress | None = None,
                  baseline_rows: int | None = None,
                  chunks: Iterator[pd.DataFrame] | None = None) -> Iterator[pd.DataFrame]:
    """Score a file chunk by chunk (memory bounded by the chunk size where the kind allows).

    `progress`, when given, is called with the number of rows of each chunk read; `chunks`,
    when given, are the file's chunks already being read (`early_chunks`).
    """
    rows = 0

    def counted(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        nonlocal rows
        for chunk in chunks:
            rows += len(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk

    if chunks is None:
        chunks = prefetch(detector.read_file(path, chunk_rows, block_bytes))
    yield from detector.score_stream(counted(chunks), str(path), on_bad_rows, threshold,
                                     baseline_rows=baseline_rows)
    if rows == 0:
        raise InputError(f"{path}: has a header but no data rows — add rows to the file")


class SummaryBuilder:
    """Accumulates a `ScoreSummary` from scored chunks in bounded memory.

    Score quantiles come from a uniform random sample of at most `SAMPLE` scores (random keys,
    keep the smallest), so they do not need every score in memory; top flagged rows are pruned
    as they come.
    """

    SAMPLE = 100_000

    def __init__(self, path: Path, output: Path | None, keep_flagged: int = 20) -> None:
        self.summary = ScoreSummary(path, output)
        self.keep_flagged = keep_flagged
        self._rng = np.random.default_rng(0)
        self._scores = np.zeros(0)
        self._keys = np.zeros(0)
        self._flagged: pd.DataFrame | None = None
        self._max = -np.inf

    def add(self, frame: pd.DataFrame) -> None:
        """Count one scored chunk."""
        s = self.summary
        s.rows += len(frame)
        s.lines += int(frame.attrs.get("lines", 0))
        s.unknown_lines += int(frame.attrs.get("unknown_lines", 0))
        flags = frame["is_anomaly"].to_numpy(dtype=bool)
        s.anomalies += int(flags.sum())
        scores = frame["anomaly_score"].to_numpy(dtype=np.float64)
        if len(scores):
            self._max = max(self._max, float(scores.max()))
        self._scores = np.concatenate([self._scores, scores])
        self._keys = np.concatenate([self._keys, self._rng.random(len(scores))])
        if len(self._scores) > 2 * self.SAMPLE:  # pruned now and then: the same sample
            self._prune()
        if flags.any() and self.keep_flagged > 0:
            hits = np.flatnonzero(flags)
            kept = self._flagged
            if kept is not None and len(kept) == self.keep_flagged:  # full: beat the last
                hits = hits[scores[hits] > kept["anomaly_score"].iloc[-1]]
                if not len(hits):
                    return
            hits = hits[np.argsort(-scores[hits], kind="stable")[:self.keep_flagged]]
            both = frame.iloc[hits] if self._flagged is None else pd.concat(
                [self._flagged, frame.iloc[hits]])
            self._flagged = both.sort_values("anomaly_score", ascending=False,
                                             kind="stable").head(self.keep_flagged)

    def _prune(self) -> None:
        """Keep the `SAMPLE` scores with the smallest random keys."""
        if len(self._scores) > self.SAMPLE:
            keep = np.argpartition(self._keys, self.SAMPLE)[:self.SAMPLE]
            self._scores, self._keys = self._scores[keep], self._keys[keep]

    def finish(self) -> ScoreSummary:
        """The summary with quantiles (p50, p90, p99 from the sample; the exact max)."""
        s = self.summary
        self._prune()
        if len(self._scores):
            s.quantiles = {f"p{int(q * 100)}": float(np.quantile(self._scores, q))
                           for q in (0.5, 0.9, 0.99)}
            s.quantiles["max"] = self._max
        s.flagged = self._flagged
        return s


def events_path(output: Path) -> Path:
    """The alarm-events sidecar of a scored output: ``x.scored.csv`` → ``x.scored.events.csv``."""
    return output.with_suffix(".events.csv")


def write_scored(frames: Iterable[pd.DataFrame], path: Path, output: Path | None,
                 keep_flagged: int = 20, sidecar: bool = False,
                 events: EventCollector | None = None) -> ScoreSummary:
    """Write scored chunks to `output` atomically (or only count them when it is None); with
    `sidecar`, a CSV output gets a Parquet copy for the dashboard (`anomaly.sidecar`); with an
    `events` collector, the alarm events go to `events_path(output)` (not for standard output:
    the events need a file beside it)."""
    builder = SummaryBuilder(path, output, keep_flagged)
    if output is None:
        for frame in frames:
            builder.add(frame)
        return builder.finish()
    if is_stdout(output):
        _write_all(frames, StdoutWriter(str(path)), builder)
        return builder.finish()
    copy = sidecar and not is_parquet(output)
    with atomic_path(output) as tmp, (atomic_path(sidecar_path(output)) if copy
                                      else contextlib.nullcontext(None)) as copy_tmp:
        _write_all(frames, TableWriter(tmp, is_parquet(output), str(path), output, copy_tmp),
                   builder, events)
    if copy:
        seal(output)
    summary = builder.finish()
    if events is not None:
        table = events.finish()
        summary.events, summary.events_path = len(table), events_path(output)
        with atomic_path(summary.events_path) as tmp:
            table.to_csv(tmp, index=False)
    return summary


def _write_all(frames: Iterable[pd.DataFrame], writer: TableWriter,
               builder: SummaryBuilder, events: EventCollector | None = None) -> None:
    try:
        for frame in frames:
            writer.write(frame)
            builder.add(frame)
            if events is not None:
                events.add(frame)
    finally:
        writer.close()


def score_file(detector: Scoring, path: Path, output: Path | None,
               threshold: float | None = None, on_bad_rows: str | None = None,
               keep_flagged: int = 20, chunk_rows: int = CHUNK_ROWS,
               block_bytes: int = CSV_BLOCK_BYTES, progress: Progress | None = None,
               sidecar: bool = False, baseline_rows: int | None = None,
               events: bool = False, chunks: Iterator[pd.DataFrame] | None = None
               ) -> ScoreSummary:
    """Score `path` into `output` (CSV or Parquet by extension), written atomically.

    Three stages overlap: reading the next chunk, scoring this one (a background thread each)
    and writing the one before (torch and pyarrow release the GIL). `progress` is told the
    rows of each chunk read; `sidecar` adds a Parquet copy of a CSV output (`write_scored`);
    `chunks` are the file's chunks when `early_chunks` started reading them.
    """
    frames = scored_chunks(detector, path, threshold, on_bad_rows, chunk_rows, block_bytes,
                           progress, baseline_rows, chunks)
    collector = detector.kind_.events(detector.model_) if events else None
    return write_scored(prefetch(frames), path, output, keep_flagged, sidecar, collector)
