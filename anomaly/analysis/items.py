"""One item of a scored file: what names it, which inputs may hold it, how to find it there.

A scored file keeps only the columns that name an item (a row, a timestamp, a session), so the
drill-down reads the item back from the original input, the way the model's kind needs it:

* a **row** (tabular): the input row with the same id values, else the same row number;
* a **timestamp** (time series): the input row with the same time (and group), times parsed as
  the kind parses them; the page explains it within the *whole* input, so that the kind judges
  it with the windows around it, as when the file was scored;
* a **session** (logs): found by its key in a log file by the detector (`Detector.find_item`),
  with its raw lines.

`drill_plan` is the one place that tells these apart; the pages follow the plan. Labels for the
Threshold page are joined to the scored items on the same keys (`labels_for`).

Example:
    >>> meta = {"schema": {"columns": [{"name": "t", "role": "time"},
    ...                                {"name": "pump", "role": "group"}]}}
    >>> plan = plan_for("timestamp", ("*.csv",), meta, ["t", "pump"])
    >>> plan.keys, plan.in_file
    (('t', 'pump'), False)
    >>> item = pd.DataFrame({"t": ["2024-01-01 00:05:00"], "pump": ["p2"]})
    >>> raw = pd.DataFrame({"t": ["2024-01-01T00:05:00"] * 2, "pump": ["p1", "p2"]})
    >>> find_position(plan, raw, item, "in.csv")
    1
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly.analysis.scored import roles
from anomaly.analysis.workspace import guess_input, inside, list_inputs
from anomaly.core.labels import check_labels
from anomaly.errors import InputError
from anomaly.kinds.timeseries.features import group_codes, time_values

ROW, TIMESTAMP, SESSION = "row", "timestamp", "session"
SESSION_FILE = "file"  # the log file a session was read from (scored logs of several files)
ROW_NUMBER = "row"  # 1-based row of the scored file (`anomaly.analysis.scored.flagged_rows`)
NAMED_FILES = 50  # files named by a scored file's `file` column looked up at most


@dataclass(frozen=True)
class DrillPlan:
    """How the items of one model are named and found.

    Attributes:
        item: what one score is for: "row", "timestamp" or "session".
        patterns: the input files to offer (the kind's file patterns, e.g. ``*.log``).
        keys: the scored-file columns that name an item (none: rows are matched by number).
        time_col: the key column that holds times (matched as times, not as text).
        group_col: the key column that holds the group (machine, sensor unit…).
        context: rows before and after a timestamp that its windows cover (time series).
    """

    item: str
    patterns: tuple[str, ...]
    keys: tuple[str, ...]
    time_col: str | None = None
    group_col: str | None = None
    context: int = 0

    @property
    def in_file(self) -> bool:
        """The detector finds the item in a file by its key (a session, with its raw lines);
        otherwise the page reads the input table and the item is one of its rows."""
        return self.item == SESSION

    @property
    def plural(self) -> str:
        """The item's noun in the plural: rows, timestamps, sessions."""
        return f"{self.item}s"

    @property
    def caption(self) -> str:
        """How the drill-down finds the item, for the page."""
        if self.item == SESSION:
            return (f"The session is read back from the original log file by its "
                    f"{self.keys[0]!r} key, with its raw lines.")
        if self.item == TIMESTAMP:
            by = f"{self.time_col!r}" + (f" and {self.group_col!r}" if self.group_col else "")
            return (f"The timestamp is found in the original file by {by}. It is judged with "
                    f"the windows around it — up to {self.context} rows before and after it"
                    f"{' in its group' if self.group_col else ''} — as when the file was scored.")
        return ("Scored files keep only id/time columns, so the row's inputs are read from the "
                "original file (matched by id, or by row number when there is no id column).")


def drill_plan(detector: Any) -> DrillPlan:
    """The plan for a loaded detector (from its kind, its bundle.json and its features)."""
    kind = detector.kind_
    return plan_for(str(kind.item), tuple(kind.file_patterns), detector.meta_,
                    [str(c) for c in detector.features_.carried_columns])


def plan_for(item: str, patterns: tuple[str, ...], meta: dict[str, Any],
             carried: list[str]) -> DrillPlan:
    """The plan for a kind's item, its file patterns, a bundle.json and the carried columns.

    Example:
        >>> meta = {"schema": {"columns": [{"name": "id", "role": "id"},
        ...                                {"name": "ts", "role": "time"}]}}
        >>> plan_for("row", ("*.csv",), meta, ["id", "ts"]).keys
        ('id',)
    """
    by_role = roles(meta)
    if item == TIMESTAMP:
        time_col = by_role["time"][0] if by_role["time"] else None
        if time_col is None:
            raise InputError("the model has no time column in bundle.json — retrain it with "
                             "--time-col")
        spec = meta.get("settings", {}).get("window", {})
        # the schema's group role, else the window settings (bundles whose schema lacks it)
        group = by_role["group"] or ([str(spec["group_col"])] if spec.get("group_col") else [])
        window = int(spec.get("window") or 1)
        return DrillPlan(item, patterns, (time_col, *group[:1]), time_col,
                         group[0] if group else None, window - 1)
    if item == SESSION:
        return DrillPlan(item, patterns, tuple(by_role["id"][:1]))
    # rows: the id-like carried columns (role id, plus detected identifier columns)
    skip = set(by_role["time"]) | set(by_role["label"])
    return DrillPlan(item, patterns, tuple(c for c in carried if c not in skip))


# ------------------------------------------------------------------------ choosing
def item_label(plan: DrillPlan, row: pd.Series) -> str:
    """How one flagged item reads in the picker.

    Example:
        >>> plan = DrillPlan("session", ("*.log",), ("session",))
        >>> item_label(plan, pd.Series({"session": "blk_7", "first_line": 37, "last_line": 42}))
        'blk_7 · lines 37–42'
    """
    if plan.item == SESSION:
        text = str(row.get(plan.keys[0], "?")) if plan.keys else "?"
        if "first_line" in row.index and "last_line" in row.index:
            first, last = row["first_line"], row["last_line"]
            text += f" · line {first}" if first == last else f" · lines {first}–{last}"
        if SESSION_FILE in row.index and pd.notna(row[SESSION_FILE]):
            text += f" of {row[SESSION_FILE]}"
        return text
    if plan.item == TIMESTAMP:
        text = str(row.get(plan.time_col, "?"))
        return text + (f" · {plan.group_col}={row[plan.group_col]}" if plan.group_col else "")
    text = f"row {row[ROW_NUMBER]}" if ROW_NUMBER in row.index else "row"
    return text + "".join(f" · {c}={row[c]}" for c in plan.keys if c in row.index)


def offered_inputs(workspace: Path, plan: DrillPlan, scored: pd.DataFrame | None) -> list[Path]:
    """The workspace's files that may hold the items: the kind's file patterns (``*.log``…)
    and the files a scored file's `file` column names, when they are inside the workspace.

    Example:
        >>> offered_inputs(Path("/nonexistent"), DrillPlan("row", ("*.csv",), ()), None)
        []
    """
    named: list[str] = []
    if scored is not None and SESSION_FILE in scored.columns:
        named = [str(v) for v in scored[SESSION_FILE].dropna().unique()[:NAMED_FILES]]
    bare = [glob.escape(n) for n in named if Path(n).name == n]  # a name: anywhere below
    found = list_inputs(workspace, patterns=(*plan.patterns, *bare))
    for name in named:
        if Path(name).name == name:
            continue
        try:  # a path: only inside the workspace
            path = inside(workspace, name)
        except InputError:
            continue
        if path.is_file() and path not in found:
            found.append(path)
    return found


def guess_item_input(plan: DrillPlan, scored_path: Path | None, row: pd.Series,
                     inputs: list[Path]) -> Path | None:
    """The input an item most likely came from: the file its row names, else an input whose
    name matches the scored file's (``x.scored.csv`` came from ``x.log``), the kind's first
    patterns first (a log model's ``x.log`` before a ``x.csv``).

    Example:
        >>> plan = DrillPlan("session", ("*.log", "*.csv"), ("session",))
        >>> inputs = [Path("labels/a.csv"), Path("logs/a.log"), Path("logs/b.log")]
        >>> guess_item_input(plan, Path("scores/a.scored.csv"), pd.Series({"file": "b.log"}),
        ...                  inputs)
        PosixPath('logs/b.log')
        >>> guess_item_input(plan, Path("scores/a.scored.csv"), pd.Series(dtype=object), inputs)
        PosixPath('logs/a.log')
    """
    name = row.get(SESSION_FILE)
    if isinstance(name, str) and name:
        hits = [p for p in inputs if p.name == name or p.as_posix().endswith(f"/{name}")]
        if hits:
            return hits[0]
    if scored_path is None:
        return None
    guess = guess_input(scored_path, inputs)
    if guess is None:
        return None
    stem = guess.name.split(".")[0]

    def rank(path: Path) -> int:
        ranks = [i for i, p in enumerate(plan.patterns) if fnmatch(path.name.lower(), p.lower())]
        return min(ranks, default=len(plan.patterns))

    return min((p for p in inputs if p.name.split(".")[0] == stem), key=rank)


# ------------------------------------------------------------------------- finding
@dataclass(frozen=True)
class Found:
    """An item read back from its input: the frame to explain, its row there, its raw lines."""

    frame: pd.DataFrame
    position: int
    lines: list[tuple[int, str]]
    source: str


def item_keys(plan: DrillPlan, frame: pd.DataFrame, source: str) -> pd.DataFrame | None:
    """The columns naming each item, made comparable: times as the time-series kind reads them
    (seconds), the rest as text. None when items have no key (rows matched by number).

    Example:
        >>> plan = DrillPlan("timestamp", ("*.csv",), ("t",), "t")
        >>> item_keys(plan, pd.DataFrame({"t": ["2024-01-01 00:00:01"]}), "x")["t"].tolist()
        [1704067201.0]
    """
    if not plan.keys:
        return None
    missing = [c for c in plan.keys if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: no column(s) {', '.join(map(repr, missing))} — choose the "
                         f"file this scored file was made from (its {plan.plural} are named by "
                         f"{', '.join(plan.keys)})")
    out = {}
    for col in plan.keys:
        if col == plan.time_col:
            out[col] = time_values(frame, col, source)
        elif col == plan.group_col:
            out[col] = group_codes(frame, col, source)
        else:
            out[col] = frame[col].astype(str).to_numpy()
    return pd.DataFrame(out, index=range(len(frame)))


def find_position(plan: DrillPlan, raw: pd.DataFrame, item: pd.DataFrame, source: str) -> int:
    """Position in the input table `raw` of a scored item (a one-row frame of the scored file).

    Example:
        >>> plan = DrillPlan("row", ("*.csv",), ("id",))
        >>> find_position(plan, pd.DataFrame({"id": [3, 1]}), pd.DataFrame({"id": [1]}), "x")
        1
    """
    keys = item_keys(plan, raw, source)
    if keys is None:
        position = int(item[ROW_NUMBER].iloc[0]) - 1
        if not 0 <= position < len(raw):
            raise InputError(f"{source}: has {len(raw):,} rows, fewer than row {position + 1:,} "
                             "of the scored file — choose the file this scored file was made "
                             "from")
        return position
    wanted = item_keys(plan, item, "the scored file")
    assert wanted is not None
    mask = np.ones(len(raw), bool)
    for col in plan.keys:
        mask &= keys[col].to_numpy() == wanted[col].iloc[0]
    hits = np.flatnonzero(mask)
    if not len(hits):
        named = ", ".join(f"{c}={item[c].iloc[0]}" for c in plan.keys)
        raise InputError(f"{source}: no {plan.item} with {named} — choose the file this scored "
                         "file was made from")
    return int(hits[0])


def find_session(detector: Any, plan: DrillPlan, path: Path, item: pd.DataFrame,
                 source: str) -> Found:
    """A session of a log file by its key, found by the detector, with its raw lines."""
    if not plan.keys or plan.keys[0] not in item.columns:
        raise InputError(f"the scored file has no session key column {plan.keys} — rescore it")
    key = str(item[plan.keys[0]].iloc[0])
    found = detector.find_item(path, key)
    if found.frame.empty:
        raise InputError(f"{source}: no session {key} — choose the log file this scored file "
                         "was made from")
    return Found(found.frame, int(found.position), list(found.lines), source)


def locate(detector: Any, plan: DrillPlan, item: pd.DataFrame, source: str,
           path: Path | None = None, table: pd.DataFrame | None = None) -> Found:
    """A scored item read back from its input: a log file (`path`) for sessions, the input
    table (`table`, read by the page) for rows and timestamps."""
    if plan.in_file:
        if path is None:
            raise InputError(f"{source}: choose a log file of the workspace — sessions are "
                             "read from the log file itself")
        return find_session(detector, plan, path, item, source)
    if table is None:
        raise InputError(f"{source}: could not be read as a table")
    return Found(table, find_position(plan, table, item, source), [], source)


def item_id(plan: DrillPlan, row: pd.Series) -> str:
    """A text that tells the items of one scored file apart (a cache key)."""
    names = plan.keys or (ROW_NUMBER,)
    return "\x1f".join(str(row.get(c, "")) for c in names)


# -------------------------------------------------------------------------- labels
def labels_for(plan: DrillPlan, scored: pd.DataFrame, raw: pd.DataFrame, label_col: str,
               source: str) -> np.ndarray:
    """0/1 labels aligned with the scored items: joined on the item keys (ids, time and group,
    session key), or by position when rows have no key.

    Example:
        >>> plan = DrillPlan("session", ("*.log",), ("session",))
        >>> raw = pd.DataFrame({"session": ["b", "a"], "label": [1, 0]})
        >>> labels_for(plan, pd.DataFrame({"session": ["a", "b"]}), raw, "label", "x").tolist()
        [0, 1]
    """
    if label_col not in raw.columns:
        raise InputError(f"{source}: no label column {label_col!r} — columns: "
                         f"{', '.join(map(str, raw.columns))}")
    flags = check_labels(raw[label_col], label_col, source).astype(int)
    keys = item_keys(plan, raw, source)
    if keys is None:
        if len(raw) != len(scored):
            raise InputError(f"{source}: {len(raw):,} rows but the scored file has "
                             f"{len(scored):,} and no id column to match them — choose the "
                             "matching input file")
        return np.asarray(flags)
    index = pd.MultiIndex.from_frame(keys)
    if index.has_duplicates:
        raise InputError(f"{source}: {', '.join(plan.keys)} repeat — labels cannot be matched "
                         f"to scored {plan.plural}")
    wanted = item_keys(plan, scored, "the scored file")
    assert wanted is not None
    aligned = pd.Series(flags, index=index).reindex(pd.MultiIndex.from_frame(wanted))
    if aligned.isna().any():
        raise InputError(f"{source}: {int(aligned.isna().sum()):,} scored {plan.item}(s) have "
                         "no label there — choose the file this scored file was made from")
    return aligned.to_numpy(dtype=int)


LABEL_NAMES = ("label", "labels", "anomaly", "y")  # never is_anomaly: that is a prediction


def label_guess(columns: Iterable[object]) -> int | None:
    """The position of a column that looks like labels (``label``, ``anomaly``…), else None.

    Example:
        >>> label_guess(["t", "Label"]), label_guess(["t", "a"])
        (1, None)
    """
    names = [str(c).lower() for c in columns]
    for wanted in LABEL_NAMES:
        if wanted in names:
            return names.index(wanted)
    return None

