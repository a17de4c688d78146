"""How logs are read and cut into sessions: `LogOptions`, checked from the CLI's log flags.

Raw text lines are cut by a key found with `--session-regex` (e.g. an HDFS block id
``blk_-?\\d+``) or into fixed time windows (`--session-window`); a CSV of parsed events names
its session column (`--session-col`) and either an event column (one event per row) or a
sequence column (one session per row, events space-separated). The options are stored in the
bundle and reused at score time.

Example:
    >>> options = log_options(session_window="5m")
    >>> options.form, options.window, options.key_name
    ('text', 300.0, 'window')
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from anomaly.clock import parse_duration
from anomaly.errors import InputError

DEFAULT_MAX_LINE = 20_000


@dataclass(frozen=True)
class LogOptions:
    """How logs are read and cut into sessions (stored in the bundle, reused at score time).

    Example:
        >>> LogOptions(form="events", session_col="BlockId", event_col="EventId").key_name
        'BlockId'
    """

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
        """The options as a plain dict for bundle.json."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LogOptions:
        """Options read back from bundle.json (the inverse of `to_json`)."""
        return cls(**raw)


def log_options(session_regex: str | None = None, session_window: str | None = None,
                time_format: str | None = None, session_col: str | None = None,
                event_col: str | None = None, sequence_col: str | None = None,
                time_col: str | None = None, label_col: str | None = None,
                max_line_length: int | None = None) -> LogOptions:
    """Check a combination of CLI log options and return them as `LogOptions`.

    `session_window` is a duration (``90s``, ``5m``, ``1h``; see `anomaly.clock.parse_duration`).
    Raises `InputError` naming the flags when the combination or a value is wrong.

    Example:
        >>> log_options(session_regex=r"blk_-?\\d+").key_name
        'session'
        >>> log_options(session_window="soon")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        anomaly.errors.InputError: --session-window 'soon': give a positive duration like 30s, ...
    """
    if event_col and sequence_col:
        raise InputError("--event-col and --sequence-col exclude each other — one event per row "
                         "(--event-col) or one session per row (--sequence-col)")
    if event_col or sequence_col:
        if not session_col:
            raise InputError("a CSV of events needs --session-col naming the session column")
        if session_regex or session_window:
            raise InputError("--session-regex/--session-window apply to raw log lines, not to a "
                             "CSV of events (its sessions come from --session-col)")
        form = "events" if event_col else "sequences"
    else:
        form = "text"
        if session_col:
            raise InputError("--session-col needs --event-col or --sequence-col (a CSV of "
                             "events); for raw log lines use --session-regex or --session-window")
        if bool(session_regex) == bool(session_window):
            raise InputError("raw log lines need exactly one of --session-regex (e.g. "
                             "'blk_-?\\d+') or --session-window (e.g. 5m) to cut them into "
                             "sessions")
        if session_regex:
            compile_regex(session_regex)
    if max_line_length is not None and max_line_length < 10:
        raise InputError(f"--max-line-length {max_line_length}: give at least 10 characters")
    return LogOptions(form=form, session_regex=session_regex,
                      window=(parse_duration(session_window, "--session-window")
                              if session_window else None),
                      time_format=time_format, session_col=session_col, event_col=event_col,
                      sequence_col=sequence_col, time_col=time_col, label_col=label_col,
                      max_line_length=max_line_length or DEFAULT_MAX_LINE)


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a user's --session-regex, or say what is wrong with it.

    Example:
        >>> compile_regex(r"blk_(-?\\d+)").search("got blk_-42 ok").group(1)
        '-42'
    """
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"--session-regex {pattern!r} is not a valid regular expression "
                         f"({exc}) — fix it, e.g. 'blk_-?\\d+'") from None
