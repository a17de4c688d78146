"""Progress bars for long scoring, on a terminal only: rows, rows/s and time left, on stderr.

`anomaly score` shows one for a file over `MIN_BYTES`, `anomaly batch` for each file it scores;
none when standard error is not a terminal (a pipe, a log file, cron) or with `--quiet`. The
total is estimated from the file (Parquet metadata; a CSV or log file's size over its average
line length), so the time left is an estimate too; the bar ends at the rows actually read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

MIN_BYTES = 50_000_000  # smaller files score in a few seconds: no bar
SAMPLE_BYTES = 1 << 20

Advance = Callable[[int], None]


def wanted(quiet: bool, stream: Any = None) -> bool:
    """Bars only on a terminal and without --quiet."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


def bar_for(path: Path, enabled: bool, min_bytes: int | None = None
            ) -> AbstractContextManager[Advance | None]:
    """A bar for scoring `path` when `enabled` and the file has at least `min_bytes` (default
    `MIN_BYTES`); else a context that yields None (no bar)."""
    least = MIN_BYTES if min_bytes is None else min_bytes
    if enabled and path.is_file() and path.stat().st_size >= least:
        return file_progress(path)
    return nullcontext(None)


def estimate_rows(path: Path) -> int | None:
    """About how many rows (lines) `path` holds: exact for Parquet, from the first MB for text.

    Example:
        >>> estimate_rows(Path("no-such.csv")) is None
        True
    """
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if path.suffix.lower() in (".gz", ".bz2", ".xz", ".zip"):
            return None
        with path.open("rb") as handle:
            head = handle.read(SAMPLE_BYTES)
        lines = head.count(b"\n")
        return max(1, round(path.stat().st_size * lines / len(head)) - 1) if lines else None
    except (OSError, ValueError):
        return None


@contextmanager
def file_progress(path: Path, console: Console | None = None) -> Iterator[Advance]:
    """Show a bar for `path` while the block runs; yields the function that counts rows."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s")

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,.0f} rows"), RowsPerSecond(),
                  TimeRemainingColumn(), console=console or Console(stderr=True)) as bar:
        task = bar.add_task(path.name, total=estimate_rows(path))
        yield lambda rows: bar.advance(task, rows)
        bar.update(task, total=bar.tasks[0].completed)  # the estimate gives way to the count
