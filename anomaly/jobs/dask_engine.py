"""The Dask engine: score partitions of large files on a Dask distributed cluster.

The driver plans partitions (byte ranges of a CSV cut at line ends, or groups of Parquet row
groups), sends each worker the *bundle path* and the partition — never a torch module — and
writes the scored partitions in order into one atomically renamed output (`write_scored`).
Each worker loads the bundle once (verifying its hashes) and caches it. At most a few partitions
are in flight per worker, so the driver's memory stays bounded too.

Kinds whose items span rows are not cut into row partitions. A raw log is cut into byte
ranges at line ends: each worker counts its range's sessions and returns them as plain arrays,
the driver merges them by session key in file order and scores the merged sessions
(`anomaly.kinds.logs.ranges`: the same sessions and scores as the local engine). A `.gz` log
cannot be cut, nor can time-series windows: such a file is one task, scored as the local
engine scores it.

Workers must see the bundle and the input files at the same paths as the driver (one machine or
a shared filesystem). CSV partitions are cut at line ends: a CSV whose quoted fields contain line
breaks must be scored with the local engine (or converted to Parquet).

Dask is an optional extra: ``pip install 'anomaly[dask]'``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from anomaly.core.kind import ByteRanges
from anomaly.errors import InputError
from anomaly.inorder import in_order
from anomaly.io import check_readable, is_parquet, iter_csv
from anomaly.jobs.batch import KEEP_FLAGGED
from anomaly.jobs.score import Bars, Progress, ScoreSummary, write_scored
from anomaly.spans import line_spans

log = logging.getLogger("anomaly")

PARTITION_BYTES = 64 << 20
IN_FLIGHT_PER_WORKER = 2
T = TypeVar("T")


@dataclass(frozen=True)
class Partition:
    """A slice of one input file: CSV bytes [start, end) or Parquet row groups."""

    path: str
    index: int
    row_offset: int
    start: int = 0
    end: int = 0
    row_groups: tuple[int, ...] = ()
    whole: bool = False  # the whole file, read as the detector's kind reads files


def plan_partitions(path: Path, partition_bytes: int = PARTITION_BYTES) -> list[Partition]:
    """Split a file into partitions of about `partition_bytes`, each knowing its first row."""
    check_readable(path)
    if is_parquet(path):
        return _plan_parquet(path, partition_bytes)
    return _plan_csv(path, partition_bytes)


def _plan_parquet(path: Path, partition_bytes: int) -> list[Partition]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    parts: list[Partition] = []
    groups: list[int] = []
    size = rows = offset = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        groups.append(i)
        size += group.total_byte_size
        rows += group.num_rows
        if size >= partition_bytes or i == meta.num_row_groups - 1:
            parts.append(Partition(str(path), len(parts), offset, row_groups=tuple(groups)))
            offset += rows
            groups, size, rows = [], 0, 0
    return parts


def _plan_csv(path: Path, partition_bytes: int) -> list[Partition]:
    with path.open("rb") as handle:
        header = handle.readline()
    return [Partition(str(path), i, span.lines_before, span.start, span.end)
            for i, span in enumerate(line_spans(path, partition_bytes, len(header)))]


# ------------------------------------------------------------------ worker side
@functools.lru_cache(maxsize=4)
def _detector(bundle: str, stamp: int) -> Any:
    """The detector of a bundle, loaded once per worker (`stamp` = bundle.json mtime)."""
    from anomaly.core.detector import Detector

    return Detector.load(bundle, Path(bundle).parent)


def read_partition(part: Partition, numeric: list[str]) -> Iterator[pd.DataFrame]:
    """The rows of one partition as DataFrames (CSV: its bytes with the file's header)."""
    path = Path(part.path)
    if part.row_groups:
        import pyarrow.parquet as pq

        yield pq.ParquetFile(path).read_row_groups(list(part.row_groups)).to_pandas()
        return
    with path.open("rb") as handle:
        header = handle.readline()
        handle.seek(part.start)
        body = handle.read(part.end - part.start)
    label = f"{path} (part {part.index + 1}, from row {part.row_offset + 1:,})"
    yield from iter_csv(header + body, label, numeric)


def score_partition(bundle: str, part: Partition, threshold: float,
                    on_bad_rows: str | None) -> pd.DataFrame:
    """Score one partition on a worker; row numbers in errors count from the file's start."""
    detector = _detector(bundle, (Path(bundle) / "bundle.json").stat().st_mtime_ns)
    if part.whole:  # a kind whose items span rows (windows, sessions): the file in one task
        chunks = detector.read_file(Path(part.path))
    else:
        chunks = read_partition(part, detector.kind_.csv_numeric(detector.model_))
    frames = list(detector.score_stream(chunks, part.path, on_bad_rows, threshold,
                                        part.row_offset))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_range(bundle: str, ranges: ByteRanges, index: int) -> dict[str, Any]:
    """Count one byte range of a file on a worker (plain lists and arrays come back)."""
    detector = _detector(bundle, (Path(bundle) / "bundle.json").stat().st_mtime_ns)
    return ranges.read(detector.model_, index)


# ------------------------------------------------------------------ driver side
class DaskEngine:
    """`batch` engine scoring each file's partitions on a Dask cluster, output in order."""

    name = "dask"

    def __init__(self, client: Any, partition_bytes: int = PARTITION_BYTES,
                 bars: Bars | None = None) -> None:
        self.client = client
        self.partition_bytes = partition_bytes
        self.bars = bars  # as `LocalEngine`'s: each file's progress bar, when not given one

    def score(self, detector: Any, path: Path, output: Path | None, threshold: float | None,
              on_bad_rows: str | None, sidecar: bool = False,
              progress: Progress | None = None) -> ScoreSummary:
        """Score `path` into `output` (atomic), the same rows and values as the local engine;
        `sidecar`: a CSV output gets its Parquet copy for the dashboard (`write_scored`);
        `progress` is told the items of each part as it comes back (a progress bar; else one
        from `bars`)."""
        bundle = str(Path(detector.bundle_path_).resolve())
        limit = detector.threshold_ if threshold is None else float(threshold)
        kind, model = detector.kind_, detector.model_
        ranges = (None if kind.partitionable
                  else kind.byte_ranges(model, path, self.partition_bytes))
        frames: Iterator[pd.DataFrame]
        if ranges is not None:  # counted apart, merged and scored here
            states = self._in_order([(read_range, (bundle, ranges, i))
                                     for i in range(len(ranges.spans))])
            frames = detector.score_stream(ranges.merge(model, states), str(path),
                                           on_bad_rows, limit)
        else:
            parts = (plan_partitions(path, self.partition_bytes) if kind.partitionable
                     else [Partition(str(path), 0, 0, whole=True)])
            frames = self._in_order([(score_partition, (bundle, part, limit, on_bad_rows))
                                     for part in parts])
        bar = (self.bars(path) if progress is None and self.bars is not None
               else contextlib.nullcontext(progress))
        with bar as told:
            if told is not None:
                frames = _told(frames, told)
            summary = write_scored((f for f in frames if len(f)), path, output,
                                   keep_flagged=KEEP_FLAGGED, sidecar=sidecar)
        if summary.rows == 0:
            raise InputError(f"{path}: has a header but no data rows — add rows to the file")
        return summary

    def _in_order(self, calls: list[tuple[Callable[..., T], tuple[Any, ...]]]) -> Iterator[T]:
        """The results of `calls` run on the cluster, in order, a few in flight per worker; a
        worker's InputError is re-raised as is."""
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        return in_order(lambda call: self._submit(*call), calls,
                        IN_FLIGHT_PER_WORKER * workers)

    def _submit(self, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return self.client.submit(function, *args, pure=False,
                                  key=f"{function.__name__}-{os.urandom(6).hex()}")


def _told(frames: Iterator[pd.DataFrame], progress: Progress) -> Iterator[pd.DataFrame]:
    """`frames`, telling `progress` the items of each."""
    for frame in frames:
        progress(len(frame))
        yield frame


def import_distributed() -> Any:
    """`dask.distributed`, or a clear `InputError` when the optional extra is missing."""
    try:
        import dask.distributed as distributed
    except ImportError:
        raise InputError("--engine dask needs Dask: pip install 'anomaly[dask]' (or use "
                         "--engine local)") from None
    return distributed


def _dashboard(client: Any) -> str:
    """``", dashboard http://…"`` when the cluster serves one."""
    link = getattr(client, "dashboard_link", None)
    return f", dashboard {link}" if link else ""


@contextlib.contextmanager
def dask_engine(scheduler: str | None = None, workers: int | None = None,
                processes: bool = True, bars: Bars | None = None) -> Iterator[DaskEngine]:
    """A `DaskEngine` on the cluster at `scheduler`, or on a new LocalCluster for the block
    (`bars`: each file's progress bar in `anomaly batch`)."""
    distributed = import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc}) — check the "
                             "address (e.g. tcp://host:8786) and that the scheduler runs"
                             ) from None
        with client:
            log.warning("dask: scheduler %s, %d worker(s)%s", scheduler,
                        len(client.scheduler_info().get("workers", {})),
                        _dashboard(client))
            yield DaskEngine(client, bars=bars)
        return
    # one single-threaded worker per core: torch in each must not start a thread per core too
    extra = {"env": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}} if processes else {}
    cluster = distributed.LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                       threads_per_worker=1, processes=processes,
                                       dashboard_address=None, **extra)
    with cluster, distributed.Client(cluster) as client:
        log.warning("dask: started a local cluster of %d single-threaded worker %s (no "
                    "dashboard; pass --scheduler to use a cluster of your own)",
                    len(cluster.workers), "processes" if processes else "threads")
        yield DaskEngine(client, bars=bars)
