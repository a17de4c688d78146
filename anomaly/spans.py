"""Byte ranges of a text file cut at line ends, each knowing how many lines come before it.

One rule serves the Dask engine's CSV partitions and the byte ranges of raw logs read apart
(`anomaly.kinds.logs.ranges`): a range ends just after a line end (or at the end of the file),
so no line is ever split, and the lines before a range are counted from its start.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "app.log"
    >>> _ = path.write_bytes(b"one\\ntwo\\nthree\\nfour")
    >>> [tuple(span) for span in line_spans(path, 5)]  # (start, end, lines_before)
    [(0, 8, 0), (8, 14, 2), (14, 18, 3)]
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, NamedTuple

_NEWLINE_SCAN = 1 << 20


class Span(NamedTuple):
    """Bytes [start, end) of a file, after `lines_before` lines (counted from the first span)."""

    start: int
    end: int
    lines_before: int


def line_spans(path: Path, span_bytes: int, start: int = 0) -> list[Span]:
    """Cut `path` from byte `start` into spans of about `span_bytes`, each ending at a line end.

    `lines_before` counts the lines between `start` and each span (line ends, one pass over the
    file at memory speed): a reader of one span numbers its lines as the whole file would.
    """
    size = path.stat().st_size
    spans: list[Span] = []
    with path.open("rb") as handle:
        lines = 0
        while start < size:
            handle.seek(min(start + max(1, span_bytes), size))
            handle.readline()  # move to the end of the line the cut falls in
            end = min(handle.tell(), size)
            spans.append(Span(start, end, lines))
            lines += count_lines(handle, start, end)
            start = end
    return spans


def count_lines(handle: BinaryIO, start: int, end: int) -> int:
    """Lines in bytes [start, end) of an open file: line ends, plus a last line without one."""
    handle.seek(start)
    count, last = 0, b"\n"
    remaining = end - start
    while remaining > 0:
        block = handle.read(min(_NEWLINE_SCAN, remaining))
        if not block:
            break
        count += block.count(b"\n")
        last = block[-1:]
        remaining -= len(block)
    return count + (last != b"\n")
