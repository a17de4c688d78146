"""Leading timestamps of log lines: the formats recognised, detecting one on sample lines,
parsing it fast (the date once per day, the clock by arithmetic) and formatting times back.

Example:
    >>> TimeParser("iso").split("2024-01-01T00:00:05 INFO open file a.txt")
    (1704067205.0, 'INFO open file a.txt')
    >>> format_time(1704067205.0)
    '2024-01-01T00:00:05'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

TIME_SAMPLE = 200  # lines the format is detected on
TIME_SHARE = 0.8  # share of them it must parse

# Timestamp formats recognised at the start of a line (auto-detection), most specific first.
AUTO_FORMATS: list[tuple[str, str]] = [
    ("iso", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    ("%Y/%m/%d %H:%M:%S", r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"),
    ("%y%m%d %H%M%S", r"\d{6} \d{6}"),
    ("%b %d %H:%M:%S", r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}"),
    ("epoch", r"\d{10}(?:\.\d+)?"),
]

# auto formats ending in the time of day: its length (HH:MM:SS or HHMMSS)
_CLOCK_TAIL = {"%Y/%m/%d %H:%M:%S": 8, "%y%m%d %H%M%S": 6, "%b %d %H:%M:%S": 8}
_MIDNIGHT = {8: "00:00:00", 6: "000000"}
MISSING = -1e300  # not in the cache (None means "does not parse")


@dataclass
class TimeParser:
    """Splits a leading timestamp off a line: (epoch seconds or None, the rest of the line)."""

    fmt: str | None
    _cache: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pattern = dict(AUTO_FORMATS).get(self.fmt or "")
        self._regex = re.compile(rf"({pattern})\s*") if pattern else None
        # the same, capturing the rest of the line too: one call per line in `LineParser`
        self.split_regex = re.compile(rf"({pattern})\s*(.*)", re.S) if pattern else None
        self._tokens = len(self.fmt.split()) if self.fmt and not pattern else 0
        self._days: dict[str, float | None] = {}

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
        value = self.value(stamp)
        return (value, rest) if value is not None else (None, line)

    def value(self, stamp: str) -> float | None:
        """Epoch seconds of a timestamp text (None when it does not parse), cached."""
        value = self._cache.get(stamp, MISSING)
        if value is MISSING:
            if len(self._cache) > 100_000:
                self._cache.clear()
            value = self._cache[stamp] = self._parse(stamp)
        return value

    def _parse(self, stamp: str) -> float | None:
        tail = _CLOCK_TAIL.get(self.fmt or "")
        if tail:  # the date once per day, the clock by arithmetic: strptime is slow
            clock = stamp[-tail:].replace(":", "")
            h, m, s = int(clock[:2]), int(clock[2:4]), int(clock[4:])
            if h < 24 and m < 60 and s < 60:
                day = stamp[:-tail]
                base = self._days.get(day)
                if base is None:
                    if len(self._days) > 100_000:
                        self._days.clear()
                    base = self._days[day] = self._strptime(day + _MIDNIGHT[tail])
                return None if base is None else base + h * 3600 + m * 60 + s
        return self._strptime(stamp)

    def _strptime(self, stamp: str) -> float | None:
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


def format_times(values: np.ndarray) -> list[str]:
    """`format_time` of many epoch seconds at once (whole seconds in one numpy call).

    Example:
        >>> format_times(np.array([0.0, np.nan, 1.5]))
        ['1970-01-01T00:00:00', '', '1970-01-01T00:00:01.500000']
    """
    known = values[~np.isnan(values)]
    if not (np.all(known == np.floor(known)) and np.all(np.abs(known) < 2.5e11)):
        return [format_time(v) for v in values.tolist()]
    out = np.datetime_as_string(np.nan_to_num(values).astype("datetime64[s]"), unit="s")
    texts: list[str] = np.where(np.isnan(values), "", out).tolist()
    return texts
