"""Raw log lines: opening plain or .gz files, detecting and parsing leading timestamps, and
reading one file into a `LineTable` (a session key, time and text per line).

Odd but legal input is counted and reported as a warning (undecodable bytes are replaced,
over-long lines are cut); input nothing can be made of raises `InputError` (CLI exit 2).

Example:
    >>> TimeParser("iso").split("2024-01-01T00:00:05 INFO open file a.txt")
    (1704067205.0, 'INFO open file a.txt')
    >>> format_time(1704067205.0)
    '2024-01-01T00:00:05'
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from anomaly.errors import InputError
from anomaly.io import check_file
from anomaly.kinds.logs.options import LogOptions, compile_regex

log = logging.getLogger("anomaly")

SNIFF_BYTES = 8192
TIME_SAMPLE = 200
TIME_SHARE = 0.8

# Timestamp formats recognised at the start of a line (auto-detection), most specific first.
AUTO_FORMATS: list[tuple[str, str]] = [
    ("iso", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    ("%Y/%m/%d %H:%M:%S", r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"),
    ("%y%m%d %H%M%S", r"\d{6} \d{6}"),
    ("%b %d %H:%M:%S", r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}"),
    ("epoch", r"\d{10}(?:\.\d+)?"),
]


@dataclass
class ReadReport:
    """Counts of odd lines met while reading one file."""

    lines: int = 0
    replaced: int = 0
    first_replaced: int = 0
    truncated: int = 0
    first_truncated: int = 0
    unmatched: int = 0

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


def iter_raw_lines(path: Path, limit: int, report: ReadReport) -> Iterator[tuple[int, str]]:
    r"""(line number, text) of each non-blank line; bytes decoded as UTF-8 (bad bytes replaced).

    Lines longer than `limit` bytes are cut; `report` counts what was replaced or cut.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "app.log"
        >>> _ = path.write_bytes(b"first\n\n\xffsecond\n")
        >>> report = ReadReport()
        >>> [number for number, _ in iter_raw_lines(path, 100, report)], report.replaced
        ([1, 3], 1)
    """
    with _open_binary(path) as handle:
        try:
            head = handle.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(handle, "peek") else b""
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: not a readable gzip file ({exc}) — check the file") \
                from None
        if b"\x00" in head:
            raise InputError(f"{path}: looks like a binary file (it holds NUL bytes), not a text "
                             "log — pass plain-text or .gz log files")
        number = 0
        while True:
            try:
                raw = handle.readline(limit + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"{path}: reading failed after line {number:,} ({exc}) — "
                                 "the file is damaged or not gzip") from None
            if not raw:
                break
            number += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                report.truncated += 1
                report.first_truncated = report.first_truncated or number
                raw = raw[:limit]
                while True:  # skip the rest of the over-long line
                    rest = handle.readline(1 << 20)
                    if not rest or rest.endswith(b"\n"):
                        break
            if b"\x00" in raw:
                raise InputError(f"{path}: line {number:,} holds NUL bytes — this looks like a "
                                 "binary file, not a text log")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                report.replaced += 1
                report.first_replaced = report.first_replaced or number
            text = text.rstrip("\r\n")
            if text.strip():
                report.lines += 1
                yield number, text


@dataclass
class TimeParser:
    """Splits a leading timestamp off a line: (epoch seconds or None, the rest of the line)."""

    fmt: str | None
    _cache: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pattern = dict(AUTO_FORMATS).get(self.fmt or "")
        self._regex = re.compile(rf"({pattern})\s*") if pattern else None
        self._tokens = len(self.fmt.split()) if self.fmt and not pattern else 0

    def split(self, line: str) -> tuple[float | None, str]:
        """(epoch seconds, rest) when the line starts with a time; else (None, the line).

        Example:
            >>> TimeParser("%y%m%d %H%M%S").split("081109 203615 INFO served blk_1")
            (1226262975.0, 'INFO served blk_1')
        """
        if self.fmt is None:
            return None, line
        if self._regex is not None:
            match = self._regex.match(line)
            if not match:
                return None, line
            stamp, rest = match.group(1), line[match.end():]
        else:
            parts = line.split(maxsplit=self._tokens)
            if len(parts) < self._tokens:
                return None, line
            stamp = " ".join(parts[:self._tokens])
            rest = parts[self._tokens] if len(parts) > self._tokens else ""
        if stamp not in self._cache:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[stamp] = self._parse(stamp)
        value = self._cache[stamp]
        return (value, rest) if value is not None else (None, line)

    def _parse(self, stamp: str) -> float | None:
        try:
            if self.fmt == "epoch":
                return float(stamp)
            if self.fmt == "iso":
                moment = datetime.fromisoformat(stamp.replace(",", "."))
            else:
                moment = datetime.strptime(stamp, str(self.fmt))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


def detect_time_format(lines: list[str]) -> str | None:
    """The first auto format that parses at least 80 % of the sample lines (None if none does).

    Example:
        >>> detect_time_format(["2024/01/02 03:04:05 start", "2024/01/02 03:04:06 stop"])
        '%Y/%m/%d %H:%M:%S'
    """
    for fmt, _ in AUTO_FORMATS:
        parser = TimeParser(fmt)
        hits = sum(parser.split(line)[0] is not None for line in lines)
        if lines and hits >= TIME_SHARE * len(lines):
            return fmt
    return None


def format_time(value: float | None) -> str:
    """Epoch seconds → ISO text (UTC, no zone suffix); '' when unknown.

    Example:
        >>> format_time(0.0), format_time(None)
        ('1970-01-01T00:00:00', '')
    """
    if value is None or value != value:
        return ""
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None).isoformat()


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


def read_text_lines(path: Path, options: LogOptions, time_format: str | None = None,
                    key_filter: Callable[[str], bool] | None = None,
                    raw_out: list[tuple[int, str]] | None = None) -> LineTable:
    r"""Read one raw log file into a `LineTable` (session key per line; unkeyed lines dropped).

    The timestamp format is `time_format`, else the options', else detected on the first lines.
    Lines without a timestamp take the one before (stack traces). `key_filter` keeps only the
    keys it accepts; `raw_out`, when given, receives (number, text) of each kept line.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "hdfs.log"
        >>> _ = path.write_text("081109 203615 open blk_1\n081109 203616 open blk_2\n"
        ...                     "081109 203617 close blk_1\n")
        >>> table = read_text_lines(path, LogOptions(session_regex=r"blk_\d+"))
        >>> table.keys, table.contents[0], table.time_format
        (['blk_1', 'blk_2', 'blk_1'], 'open blk_1', '%y%m%d %H%M%S')
    """
    limit = options.max_line_length
    fmt = time_format or options.time_format
    if fmt is None:
        fmt = detect_time_format(_sample(path, limit, TIME_SAMPLE))
    parser = TimeParser(fmt)
    regex = compile_regex(options.session_regex) if options.session_regex else None
    group = 1 if regex is not None and regex.groups else 0
    window = options.window
    report = ReadReport()
    table = LineTable(path, [], [], [], [], fmt)
    last_time: float | None = None
    for number, text in iter_raw_lines(path, limit, report):
        stamp, content = parser.split(text)
        if stamp is None:
            stamp = last_time  # continuation lines (stack traces) belong to the line before
        else:
            last_time = stamp
        if regex is not None:
            match = regex.search(text)
            if match is None:
                report.unmatched += 1
                continue
            key = match.group(group)
        else:
            if stamp is None or window is None:
                report.unmatched += 1
                continue
            key = format_time(stamp - stamp % window)
        if key_filter is not None and not key_filter(key):
            continue
        if raw_out is not None:
            raw_out.append((number, text))
        table.numbers.append(number)
        table.keys.append(key)
        table.times.append(stamp)
        table.contents.append(content)
    report.warn(str(path), limit)
    if report.lines == 0:
        raise InputError(f"{path}: the log is empty (no non-blank lines) — pass a log file "
                         "with lines in it")
    if not table.numbers and key_filter is None:
        samples = "\n  ".join(_sample(path, 120, 3))
        if regex is not None:
            raise InputError(f"{path}: --session-regex {options.session_regex!r} matches none "
                             f"of the {report.lines:,} lines — fix the regex; sample lines:\n  "
                             f"{samples}")
        hint = f"format {options.time_format!r} does not parse them" if options.time_format \
            else "none was recognised — pass --time-format, e.g. '%Y-%m-%d %H:%M:%S'"
        raise InputError(f"{path}: --session-window needs a timestamp at the start of each line "
                         f"and {hint}; sample lines:\n  {samples}")
    if report.unmatched:
        what = "no session key" if regex is not None else "no timestamp"
        log.warning("%s: %d of %d line(s) have %s and were left out", path, report.unmatched,
                    report.lines, what)
    return table
