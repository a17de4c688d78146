"""Reading logs into sessions: raw text lines (plain or .gz) or CSVs of already-parsed events.

A *session* is the unit that gets one score: the lines sharing a key found by `session_regex`
(e.g. an HDFS block id ``blk_-?\\d+``), or the lines of one fixed time window (``window``).
CSV input is either one event per row (`session_col` + `event_col`) or one session per row with
its events space-separated (`session_col` + `sequence_col`).

Odd but legal input is counted and reported as a warning (undecodable bytes are replaced,
over-long lines are cut); input nothing can be made of raises `InputError` (CLI exit 2).

Example:
    >>> parse_window("5m")
    300.0
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from anomaly.errors import InputError, SchemaError

log = logging.getLogger("anomaly")

SNIFF_BYTES = 8192
DEFAULT_MAX_LINE = 20_000
ITEMS = "_items"  # session column holding the lines (text) or event names (CSV) of a session
TIME_SAMPLE = 200
TIME_SHARE = 0.8
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}

# Timestamp formats recognised at the start of a line (auto-detection), most specific first.
AUTO_FORMATS: list[tuple[str, str]] = [
    ("iso", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    ("%Y/%m/%d %H:%M:%S", r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"),
    ("%y%m%d %H%M%S", r"\d{6} \d{6}"),
    ("%b %d %H:%M:%S", r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}"),
    ("epoch", r"\d{10}(?:\.\d+)?"),
]


@dataclass(frozen=True)
class LogOptions:
    """How logs are read and cut into sessions (stored in the bundle, reused at score time)."""

    form: str = "text"  # text | events | sequences
    session_regex: str | None = None
    window: float | None = None  # seconds
    time_format: str | None = None  # strptime format, "iso", "epoch", or None = auto-detect
    session_col: str | None = None
    event_col: str | None = None
    sequence_col: str | None = None
    time_col: str | None = None
    label_col: str | None = None
    max_line_length: int = DEFAULT_MAX_LINE

    @property
    def key_name(self) -> str:
        """Name of the session-key column in the output."""
        if self.form != "text":
            return str(self.session_col)
        return "window" if self.window else "session"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LogOptions:
        return cls(**raw)


def log_options(session_regex: str | None = None, window: str | None = None,
                time_format: str | None = None, session_col: str | None = None,
                event_col: str | None = None, sequence_col: str | None = None,
                time_col: str | None = None, label_col: str | None = None,
                max_line_length: int | None = None) -> LogOptions:
    """Check a combination of CLI log options and return them as `LogOptions`."""
    if event_col and sequence_col:
        raise InputError("--event-col and --sequence-col exclude each other — one event per row "
                         "(--event-col) or one session per row (--sequence-col)")
    if event_col or sequence_col:
        if not session_col:
            raise InputError("a CSV of events needs --session-col naming the session column")
        if session_regex or window:
            raise InputError("--session-regex/--window apply to raw log lines, not to a CSV of "
                             "events (its sessions come from --session-col)")
        form = "events" if event_col else "sequences"
    else:
        form = "text"
        if session_col:
            raise InputError("--session-col needs --event-col or --sequence-col (a CSV of "
                             "events); for raw log lines use --session-regex or --window")
        if bool(session_regex) == bool(window):
            raise InputError("raw log lines need exactly one of --session-regex (e.g. "
                             "'blk_-?\\d+') or --window (e.g. 5m) to cut them into sessions")
        if session_regex:
            compile_regex(session_regex)
    if max_line_length is not None and max_line_length < 10:
        raise InputError(f"--max-line-length {max_line_length}: give at least 10 characters")
    return LogOptions(form=form, session_regex=session_regex,
                      window=parse_window(window) if window else None, time_format=time_format,
                      session_col=session_col, event_col=event_col, sequence_col=sequence_col,
                      time_col=time_col, label_col=label_col,
                      max_line_length=max_line_length or DEFAULT_MAX_LINE)


def parse_window(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"1d"`` (or plain seconds) → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not match or match.group(2) not in _UNITS or float(match.group(1)) <= 0:
        raise InputError(f"--window {text!r}: give a positive length like 30s, 5m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a user's --session-regex, or say what is wrong with it."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"--session-regex {pattern!r} is not a valid regular expression "
                         f"({exc}) — fix it, e.g. 'blk_-?\\d+'") from None


# ----------------------------------------------------------------------- raw lines
@dataclass
class ReadReport:
    """Counts of odd lines met while reading one file."""

    lines: int = 0
    replaced: int = 0
    first_replaced: int = 0
    truncated: int = 0
    first_truncated: int = 0
    unmatched: int = 0
    samples: list[str] = field(default_factory=list)

    def warn(self, source: str, limit: int) -> None:
        if self.replaced:
            log.warning("%s: %d line(s) held bytes that are not UTF-8 (first at line %d); they "
                        "were replaced by U+FFFD — save the log as UTF-8 to avoid this",
                        source, self.replaced, self.first_replaced)
        if self.truncated:
            log.warning("%s: %d line(s) longer than %d characters were cut at that length "
                        "(first at line %d) — pass --max-line-length to change the limit",
                        source, self.truncated, limit, self.first_truncated)


def _open_binary(path: Path) -> BinaryIO:
    if not path.exists():
        raise InputError(f"{path}: file not found — check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a log file — pass log files")
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def iter_raw_lines(path: Path, limit: int, report: ReadReport) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; bytes decoded as UTF-8 (bad bytes replaced)."""
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
    """The first auto format that parses at least 80 % of the sample lines (None if none does)."""
    for fmt, _ in AUTO_FORMATS:
        parser = TimeParser(fmt)
        hits = sum(parser.split(line)[0] is not None for line in lines)
        if lines and hits >= TIME_SHARE * len(lines):
            return fmt
    return None


def format_time(value: float | None) -> str:
    """Epoch seconds → ISO text (UTC, no zone suffix); '' when unknown."""
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
    """Read one raw log file into a `LineTable` (session key per line; unkeyed lines dropped)."""
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
        raise InputError(f"{path}: --window needs a timestamp at the start of each line and "
                         f"{hint}; sample lines:\n  {samples}")
    if report.unmatched:
        what = "no session key" if regex is not None else "no timestamp"
        log.warning("%s: %d of %d line(s) have %s and were left out", path, report.unmatched,
                    report.lines, what)
    return table


def sessions_from_lines(tables: list[LineTable], options: LogOptions) -> pd.DataFrame:
    """Group lines by session key (in order of first appearance) into one row per session."""
    many = len(tables) > 1
    groups: dict[str, list[tuple[int, int]]] = {}
    for t, table in enumerate(tables):
        for i, key in enumerate(table.keys):
            groups.setdefault(key, []).append((t, i))
    rows: dict[str, list[Any]] = {options.key_name: [], "file": [], "first_line": [],
                                  "last_line": [], "first_time": [], "last_time": [],
                                  "n_lines": [], ITEMS: []}
    for key, members in groups.items():
        (t0, i0), (t1, i1) = members[0], members[-1]
        times = [tables[t].times[i] for t, i in members]
        known = [v for v in times if v is not None]
        rows[options.key_name].append(key)
        rows["file"].append(tables[t0].path.name)
        rows["first_line"].append(tables[t0].numbers[i0])
        rows["last_line"].append(tables[t1].numbers[i1])
        rows["first_time"].append(format_time(min(known)) if known else "")
        rows["last_time"].append(format_time(max(known)) if known else "")
        rows["n_lines"].append(len(members))
        rows[ITEMS].append([tables[t].contents[i] for t, i in members])
    frame = pd.DataFrame(rows)
    return frame if many else frame.drop(columns=["file"])


# ----------------------------------------------------------------------------- CSV
def read_event_table(path: Path) -> pd.DataFrame:
    """A CSV/Parquet of events, every column as text (ids keep their leading zeros)."""
    from anomaly.io import check_readable, is_parquet

    check_readable(path)
    try:
        if is_parquet(path):
            return pd.read_parquet(path).astype("string")
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as CSV ({exc}) — check the file") from None


def sessions_from_events(frame: pd.DataFrame, options: LogOptions, source: str) -> pd.DataFrame:
    """One row per session from a CSV of events (either form); the key keeps its column name."""
    needed = [c for c in (options.session_col, options.event_col, options.sequence_col) if c]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SchemaError(f"{source}: column(s) {', '.join(map(repr, missing))} not found — "
                          f"columns are: {', '.join(map(str, frame.columns))}")
    if len(frame) == 0:
        raise InputError(f"{source}: has a header but no rows — add events to the file")
    key = str(options.session_col)
    lines = pd.Series(range(1, len(frame) + 1), index=frame.index)
    times = frame[options.time_col].astype(str) if options.time_col and \
        options.time_col in frame.columns else pd.Series("", index=frame.index)
    if options.form == "sequences":
        out = pd.DataFrame({key: frame[key].astype(str).to_numpy(),
                            "first_line": lines.to_numpy(), "last_line": lines.to_numpy(),
                            "first_time": times.to_numpy(), "last_time": times.to_numpy()})
        items = [str(v).split() for v in frame[str(options.sequence_col)].fillna("")]
        out["n_lines"] = [len(v) for v in items]
        out[ITEMS] = items
    else:
        keys = frame[key].astype(str)
        grouped = pd.DataFrame({"k": keys.to_numpy(), "line": lines.to_numpy(),
                                "time": times.to_numpy(),
                                "event": frame[str(options.event_col)].astype(str).to_numpy()}
                               ).groupby("k", sort=False)
        out = pd.DataFrame({key: list(grouped.groups.keys())})
        out["first_line"] = grouped["line"].min().to_numpy()
        out["last_line"] = grouped["line"].max().to_numpy()
        out["first_time"] = grouped["time"].first().to_numpy()
        out["last_time"] = grouped["time"].last().to_numpy()
        out["n_lines"] = grouped.size().to_numpy()
        out[ITEMS] = grouped["event"].agg(list).to_numpy()
    if options.label_col and options.label_col in frame.columns:
        labels = pd.to_numeric(frame[options.label_col], errors="coerce")
        if options.form == "sequences":
            out[options.label_col] = labels.to_numpy()
        else:
            out[options.label_col] = labels.groupby(keys.to_numpy(), sort=False).max().to_numpy()
    return out


def read_sessions(paths: list[Path], options: LogOptions,
                  time_format: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """Sessions of all `paths` (one row each) and the timestamp format used for raw text."""
    if options.form == "text":
        tables = [read_text_lines(Path(p), options, time_format) for p in paths]
        frame, fmt = sessions_from_lines(tables, options), tables[0].time_format
    else:
        frames = [sessions_from_events(read_event_table(Path(p)), options, str(p)) for p in paths]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        fmt = None
    frame.attrs["time_format"] = fmt  # travels with the frame into LogDetector.fit
    return frame, fmt
