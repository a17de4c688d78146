"""Scoring whole files: chunked reading, incremental atomic writing, a summary of the run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from anomaly.errors import InputError
from anomaly.io import atomic_path, is_parquet, iter_table

if TYPE_CHECKING:
    from anomaly.detector import Detector

CHUNK_ROWS = 200_000


@dataclass
class ScoreSummary:
    """What scoring one file produced."""

    input: Path
    output: Path | None
    rows: int = 0
    anomalies: int = 0
    quantiles: dict[str, float] = field(default_factory=dict)
    flagged: pd.DataFrame | None = None

    @property
    def anomaly_rate(self) -> float:
        return self.anomalies / self.rows if self.rows else 0.0


class TableWriter:
    """Appends DataFrames to one CSV or Parquet file (schema fixed by the first chunk)."""

    def __init__(self, path: Path, parquet: bool) -> None:
        self.path, self.parquet = path, parquet
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None  # CSVWriter has no .schema attribute

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = (pq.ParquetWriter(self.path, table.schema) if self.parquet
                            else pacsv.CSVWriter(self.path, table.schema))
        else:
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def scored_chunks(detector: Detector, path: Path, threshold: float | None = None,
                  on_bad_rows: str | None = None, chunk_rows: int = CHUNK_ROWS
                  ) -> Iterator[pd.DataFrame]:
    """Score a file chunk by chunk (memory bounded by the chunk size)."""
    stream = getattr(detector, "score_stream", None)
    if stream is not None:  # time series: window context is carried across chunks
        yield from stream(iter_table(path, chunk_rows), str(path), on_bad_rows, threshold)
        return
    offset = 0
    reader = getattr(detector, "iter_frames", None)  # kinds that read their own files (logs)
    for chunk in (reader(path) if reader is not None else iter_table(path, chunk_rows)):
        if len(chunk) == 0:
            continue
        yield detector.score_frame(chunk, str(path), on_bad_rows, threshold, row_offset=offset)
        offset += len(chunk)
    if offset == 0:
        raise InputError(f"{path}: has a header but no data rows — add rows to the file")


def score_file(detector: Detector, path: Path, output: Path | None,
               threshold: float | None = None, on_bad_rows: str | None = None,
               keep_flagged: int = 20, chunk_rows: int = CHUNK_ROWS) -> ScoreSummary:
    """Score `path` into `output` (CSV or Parquet by extension), written atomically."""
    summary = ScoreSummary(path, output)
    sample: list[np.ndarray] = []
    flagged: list[pd.DataFrame] = []
    rng = np.random.default_rng(0)

    def consume(frame: pd.DataFrame) -> None:
        summary.rows += len(frame)
        hits = frame[frame["is_anomaly"]]
        summary.anomalies += len(hits)
        scores = frame["anomaly_score"].to_numpy()
        sample.append(scores if len(scores) <= 100_000 else rng.choice(scores, 100_000))
        if hits.size:
            flagged.append(hits.nlargest(keep_flagged, "anomaly_score"))

    if output is None:
        for frame in scored_chunks(detector, path, threshold, on_bad_rows, chunk_rows):
            consume(frame)
    else:
        with atomic_path(output) as tmp:
            writer = TableWriter(tmp, is_parquet(output))
            try:
                for frame in scored_chunks(detector, path, threshold, on_bad_rows, chunk_rows):
                    writer.write(frame)
                    consume(frame)
            finally:
                writer.close()
    pooled = np.concatenate(sample) if sample else np.zeros(0)
    if len(pooled):
        summary.quantiles = {f"p{int(q * 100)}": float(np.quantile(pooled, q))
                             for q in (0.5, 0.9, 0.99)}
        summary.quantiles["max"] = float(pooled.max())
    if flagged:
        summary.flagged = pd.concat(flagged).nlargest(keep_flagged, "anomaly_score")
    return summary
