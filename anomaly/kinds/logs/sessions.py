"""Sessions: the unit that gets one score, one row each, with its lines or events in `ITEMS`.

Raw text lines are grouped by the key `read_text_lines` gave them (a `--session-regex` match
or a `--session-window` start); a CSV of events is either one event per row (`session_col` +
`event_col`) or one session per row with its events space-separated (`session_col` +
`sequence_col`).

Example:
    >>> events = pd.DataFrame({"blk": ["a", "b", "a"], "event": ["E1", "E2", "E3"]})
    >>> options = LogOptions(form="events", session_col="blk", event_col="event")
    >>> sessions = sessions_from_events(events, options, "events.csv")
    >>> sessions[["blk", "n_lines", ITEMS]].to_dict("list")
    {'blk': ['a', 'b'], 'n_lines': [2, 1], '_items': [['E1', 'E3'], ['E2']]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from anomaly.errors import InputError, SchemaError
from anomaly.io import check_readable, is_parquet, read_error
from anomaly.kinds.logs.lines import LineTable, read_text_lines
from anomaly.kinds.logs.options import LogOptions
from anomaly.kinds.logs.timestamps import format_time

ITEMS = "_items"  # session column holding the lines (text) or event names (CSV) of a session


def sessions_from_lines(tables: list[LineTable], options: LogOptions) -> pd.DataFrame:
    """Group lines by session key (in order of first appearance) into one row per session.

    A `file` column names each session's first file when there are several tables.

    Example:
        >>> table = LineTable(Path("app.log"), [1, 2, 3], ["a", "b", "a"], [0.0, 1.0, 2.0],
        ...                   ["open", "open", "close"], "epoch")
        >>> frame = sessions_from_lines([table], LogOptions(session_regex="[ab]"))
        >>> frame[["session", "last_line", ITEMS]].to_dict("list")
        {'session': ['a', 'b'], 'last_line': [3, 2], '_items': [['open', 'close'], ['open']]}
    """
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


def read_event_table(path: Path) -> pd.DataFrame:
    r"""A CSV/Parquet of events, every column as text (ids keep their leading zeros).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "events.csv"
        >>> _ = path.write_text("blk,event\n007,E1\n")
        >>> read_event_table(path)["blk"].tolist()
        ['007']
    """
    check_readable(path)
    try:
        if is_parquet(path):
            return pd.read_parquet(path).astype("string")
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
    except (ValueError, OSError) as exc:
        raise read_error(path, exc) from None


def check_event_columns(frame: pd.DataFrame, options: LogOptions, source: str) -> None:
    """Raise `SchemaError` naming the session/event/sequence columns the frame lacks."""
    needed = [c for c in (options.session_col, options.event_col, options.sequence_col) if c]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SchemaError(f"{source}: column(s) {', '.join(map(repr, missing))} not found — "
                          f"columns are: {', '.join(map(str, frame.columns))}")


def sessions_from_events(frame: pd.DataFrame, options: LogOptions, source: str,
                         row_offset: int = 0) -> pd.DataFrame:
    """One row per session from a CSV of events (either form); the key keeps its column name.

    `row_offset`: rows of the file before this frame (line numbers count from the file's start).
    """
    check_event_columns(frame, options, source)
    if len(frame) == 0:
        raise InputError(f"{source}: has a header but no rows — add events to the file")
    key = str(options.session_col)
    lines = pd.Series(range(row_offset + 1, row_offset + len(frame) + 1), index=frame.index)
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
    r"""Sessions of all `paths` (one row each) and the timestamp format used for raw text.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "app.log"
        >>> _ = path.write_text("1700000000 open blk_1\n1700000001 close blk_1\n")
        >>> frame, fmt = read_sessions([path], LogOptions(session_regex=r"blk_\d+"))
        >>> frame[["session", "n_lines", "first_time"]].to_dict("records"), fmt
        ([{'session': 'blk_1', 'n_lines': 2, 'first_time': '2023-11-14T22:13:20'}], 'epoch')
    """
    if options.form == "text":
        tables = [read_text_lines(Path(p), options, time_format) for p in paths]
        frame, fmt = sessions_from_lines(tables, options), tables[0].time_format
    else:
        frames = [sessions_from_events(read_event_table(Path(p)), options, str(p)) for p in paths]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        fmt = None
    frame.attrs["time_format"] = fmt  # travels with the frame into LogDetector.fit
    return frame, fmt
