"""Raw log lines: opening plain or .gz files, reading them in blocks of lines, cutting lines
into (number, session key, time, content) and reading one file into a `LineTable`.

Odd but legal input is counted and reported as a warning (undecodable bytes are replaced,
over-long lines are cut); input nothing can be made of raises `InputError` (CLI exit 2).
Timestamps: `anomaly.kinds.logs.timestamps`.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from anomaly.errors import InputError
from anomaly.io import check_file
from anomaly.kinds.logs.options import LogOptions, compile_regex
from anomaly.kinds.logs.timestamps import (
    MISSING,
    TIME_SAMPLE,
    TimeParser,
    detect_time_format,
    format_time,
)
from anomaly.spans import Span

log = logging.getLogger("anomaly")

SNIFF_BYTES = 8192
BLOCK_BYTES = 1 << 22  # raw log read 4 MB at a time


@dataclass
class ReadReport:
    """Counts of odd lines met while reading one file."""

    lines: int = 0
    replaced: int = 0
    first_replaced: int = 0
    truncated: int = 0
    first_truncated: int = 0
    unmatched: int = 0

    def add(self, other: ReadReport) -> None:
        """Add the counts of a reader of later lines (the next byte range of the file)."""
        self.lines += other.lines
        self.unmatched += other.unmatched
        self.replaced += other.replaced
        self.first_replaced = self.first_replaced or other.first_replaced
        self.truncated += other.truncated
        self.first_truncated = self.first_truncated or other.first_truncated

    def warn(self, source: str, limit: int) -> None:
        """Log one warning per kind of odd line met in `source` (nothing when all were fine)."""
        if self.replaced:
            log.warning("%s: %d line(s) held bytes that are not UTF-8 (first at line %d); they "
                        "were replaced by U+FFFD — save the log as UTF-8 to avoid this",
                        source, self.replaced, self.first_replaced)
        if self.truncated:
            log.warning("%s: %d line(s) longer than %d characters were cut at that length "
                        "(first at line %d) — pass --max-line-length to change the limit",
                        source, self.truncated, limit, self.first_truncated)


def _open_binary(path: Path) -> BinaryIO:
    check_file(path, "a log file — pass log files")
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def iter_line_blocks(path: Path, limit: int, report: ReadReport,
                     block_bytes: int = BLOCK_BYTES, span: Span | None = None
                     ) -> Iterator[tuple[int, list[str]]]:
    r"""(number of the first line, the lines) of each block of about `block_bytes` of a file.

    Lines are decoded as UTF-8 (bad bytes replaced), without their line ends; blank lines are
    kept so that numbers count every line. Lines longer than `limit` bytes are cut (memory stays
    bounded even for a line without end); `report` counts what was replaced or cut.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "app.log"
        >>> _ = path.write_bytes(b"first\r\n\n\xffsecond")
        >>> report = ReadReport()
        >>> list(iter_line_blocks(path, 100, report)), report.replaced
        ([(1, ['first', '']), (3, ['\ufffdsecond'])], 1)

    `span`: only those bytes of a plain file (cut at line ends: `anomaly.spans`), its lines
    numbered as in the whole file.
    """
    with _open_binary(path) as handle:
        remaining = -1  # bytes left to read (-1: to the end of the file)
        if span is not None:
            handle.seek(span.start)
            remaining = span.end - span.start
        try:
            head = handle.peek(SNIFF_BYTES)[:SNIFF_BYTES] \
                if hasattr(handle, "peek") and not (span and span.start) else b""
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: not a readable gzip file ({exc}) — check the file") \
                from None
        if b"\x00" in head:
            raise InputError(f"{path}: looks like a binary file (it holds NUL bytes), not a text "
                             "log — pass plain-text or .gz log files")
        number, rest, skipping = span.lines_before if span else 0, b"", False
        while remaining:
            try:
                block = handle.read(block_bytes if remaining < 0 else min(block_bytes, remaining))
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"{path}: reading failed after line {number:,} ({exc}) — "
                                 "the file is damaged or not gzip") from None
            if not block:
                break
            remaining -= len(block) if remaining > 0 else 0
            if skipping:  # the rest of an over-long line: dropped up to its end
                end = block.find(b"\n")
                if end < 0:
                    continue
                block, skipping = block[end:], False
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no line end yet: keep at most what the cut line needs
                rest, skipping = (data[:limit + 1], True) if len(data) > limit + 1 else (data,
                                                                                        False)
                continue
            rest = data[cut:]
            lines = _decode(data[:cut - 1], number + 1, limit, report, path)
            yield number + 1, lines
            number += len(lines)
        if rest:
            yield number + 1, _decode(rest, number + 1, limit, report, path)


def _decode(body: bytes, first: int, limit: int, report: ReadReport, path: Path) -> list[str]:
    """The lines of `body` (lines joined by \\n) as text; `first` = number of the first."""
    if b"\x00" in body:
        line = first + body.count(b"\n", 0, body.index(b"\x00"))
        raise InputError(f"{path}: line {line:,} holds NUL bytes — this looks like a binary "
                         "file, not a text log")
    try:
        text = body.decode("utf-8")
        lines = text.split("\n")
        if len(body) > limit:  # some line may be too long (multi-byte: up to 4 bytes a char)
            longest = max(map(len, lines)) * (1 if len(text) == len(body) else 4)
            if longest > limit:
                raise UnicodeError
    except UnicodeError:
        lines = []
        for number, raw in enumerate(body.split(b"\n"), first):
            if len(raw) > limit:
                report.truncated += 1
                report.first_truncated = report.first_truncated or number
                raw = raw[:limit]
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace"))
                report.replaced += 1
                report.first_replaced = report.first_replaced or number
        text = "\r" if any("\r" in line for line in lines) else ""
    if "\r" in text:
        lines = [line.rstrip("\r") for line in lines]
    return lines


def iter_raw_lines(path: Path, limit: int, report: ReadReport) -> Iterator[tuple[int, str]]:
    r"""(line number, text) of each non-blank line (see `iter_line_blocks`).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "app.log"
        >>> _ = path.write_bytes(b"first\n\n\xffsecond\n")
        >>> report = ReadReport()
        >>> [number for number, _ in iter_raw_lines(path, 100, report)], report.replaced
        ([1, 3], 1)
    """
    for first, lines in iter_line_blocks(path, limit, report):
        for number, text in enumerate(lines, first):
            if text.strip():
                report.lines += 1
                yield number, text


# auto formats ending in the time of day: its length (HH:MM:SS or HHMMSS)
@dataclass
class LineTable:
    """The lines of one log file with their session key, time and template text."""

    path: Path
    numbers: list[int]
    keys: list[str]
    times: list[float | None]
    contents: list[str]
    time_format: str | None


def _sample(path: Path, limit: int, n: int) -> list[str]:
    out: list[str] = []
    for _, text in iter_raw_lines(path, limit, ReadReport()):
        out.append(text)
        if len(out) >= n:
            break
    return out


@dataclass
class ParsedLines:
    """The keyed lines of one block: number, session key, time (None: unknown) and content."""

    numbers: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)


class LineParser:
    """Cuts blocks of raw lines into keyed lines (`parse`), then checks the whole (`finish`).

    The timestamp is split off each line (a line without one takes the time of the line
    before: stack traces); the session key is the `--session-regex` match in the whole line or
    the start of the `--session-window` the time falls in. Lines without a key are left out.
    """

    def __init__(self, options: LogOptions, fmt: str | None, report: ReadReport) -> None:
        self.options, self.report, self.fmt = options, report, fmt
        self.parser = TimeParser(fmt)
        self.regex = compile_regex(options.session_regex) if options.session_regex else None
        self.group = 1 if self.regex is not None and self.regex.groups else 0
        self.last_time: float | None = None
        self.kept = 0
        self._windows: dict[float, str] = {}

    def parse(self, first: int, lines: list[str]) -> ParsedLines:
        """The keyed lines among `lines` (numbered from `first`; blank lines are skipped)."""
        out = ParsedLines()
        numbers, keys, times, contents = out.numbers, out.keys, out.times, out.contents
        stamped = self.parser.split_regex.match if self.parser.split_regex is not None else None
        split = self.parser.split if self.fmt is not None and stamped is None else None
        value, search, group = self.parser.value, None, self.group
        cached = self.parser._cache.get
        if self.regex is not None:
            search = self.regex.search
        last, seen, unmatched = self.last_time, 0, 0
        window, windows = self.options.window, self._windows
        for number, text in enumerate(lines, first):
            if not text or text.isspace():
                continue
            seen += 1
            content = text
            if stamped is not None:
                found = stamped(text)
                if found is not None:
                    when, rest = found.groups()
                    stamp = cached(when, MISSING)
                    if stamp == MISSING:
                        stamp = value(when)
                    if stamp is not None:
                        content = rest
                        last = stamp
                    else:
                        stamp = last
                else:
                    stamp = last
            elif split is not None:
                stamp, content = split(text)
                if stamp is None:
                    stamp = last
                else:
                    last = stamp
            else:
                stamp = last
            if search is not None:
                match = search(text)
                if match is None:
                    unmatched += 1
                    continue
                key = match.group(group)
            else:
                if stamp is None or window is None:
                    unmatched += 1
                    continue
                start = stamp - stamp % window
                key = windows.get(start) or windows.setdefault(start, format_time(start))
            numbers.append(number)
            keys.append(key)
            times.append(stamp)
            contents.append(content)
        self.last_time = last
        self.report.lines += seen
        self.report.unmatched += unmatched
        self.kept += len(keys)
        return out

    def finish(self, path: Path, filtered: bool = False) -> None:
        """Warn about odd lines; raise when the file held no line or no keyed line."""
        report, options = self.report, self.options
        limit = options.max_line_length
        report.warn(str(path), limit)
        if report.lines == 0:
            raise InputError(f"{path}: the log is empty (no non-blank lines) — pass a log file "
                             "with lines in it")
        if not self.kept and not filtered:
            samples = "\n  ".join(_sample(path, 120, 3))
            if self.regex is not None:
                raise InputError(f"{path}: --session-regex {options.session_regex!r} matches "
                                 f"none of the {report.lines:,} lines — fix the regex; sample "
                                 f"lines:\n  {samples}")
            hint = f"format {options.time_format!r} does not parse them" \
                if options.time_format \
                else "none was recognised — pass --time-format, e.g. '%Y-%m-%d %H:%M:%S'"
            raise InputError(f"{path}: --session-window needs a timestamp at the start of each "
                             f"line and {hint}; sample lines:\n  {samples}")
        if report.unmatched:
            what = "no session key" if self.regex is not None else "no timestamp"
            log.warning("%s: %d of %d line(s) have %s and were left out", path,
                        report.unmatched, report.lines, what)


def line_parser(path: Path, options: LogOptions, time_format: str | None = None
                ) -> LineParser:
    """A `LineParser` for `path`: the timestamp format is `time_format`, else the options',
    else detected on the first lines."""
    fmt = time_format or options.time_format
    if fmt is None:
        fmt = detect_time_format(_sample(path, options.max_line_length, TIME_SAMPLE))
    return LineParser(options, fmt, ReadReport())


def read_text_lines(path: Path, options: LogOptions, time_format: str | None = None,
                    key_filter: Callable[[str], bool] | None = None,
                    raw_out: list[tuple[int, str]] | None = None) -> LineTable:
    r"""Read one raw log file into a `LineTable` (session key per line; unkeyed lines dropped).

    The timestamp format is `time_format`, else the options', else detected on the first lines.
    Lines without a timestamp take the one before (stack traces). `key_filter` keeps only the
    keys it accepts (memory then holds only those lines); `raw_out`, when given, receives
    (number, text) of each kept line.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "hdfs.log"
        >>> _ = path.write_text("081109 203615 open blk_1\n081109 203616 open blk_2\n"
        ...                     "081109 203617 close blk_1\n")
        >>> table = read_text_lines(path, LogOptions(session_regex=r"blk_\d+"))
        >>> table.keys, table.contents[0], table.time_format
        (['blk_1', 'blk_2', 'blk_1'], 'open blk_1', '%y%m%d %H%M%S')
    """
    parser = line_parser(path, options, time_format)
    table = LineTable(path, [], [], [], [], parser.fmt)
    for first, lines in iter_line_blocks(path, options.max_line_length, parser.report):
        part = parser.parse(first, lines)
        if key_filter is None and raw_out is None:
            table.numbers += part.numbers
            table.keys += part.keys
            table.times += part.times
            table.contents += part.contents
            continue
        for i, key in enumerate(part.keys):
            if key_filter is None or key_filter(key):
                table.numbers.append(part.numbers[i])
                table.keys.append(key)
                table.times.append(part.times[i])
                table.contents.append(part.contents[i])
                if raw_out is not None:
                    raw_out.append((part.numbers[i], lines[part.numbers[i] - first]))
    parser.finish(path, filtered=key_filter is not None)
    return table
