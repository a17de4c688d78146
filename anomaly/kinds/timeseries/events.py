"""Alarm events: runs of flagged timestamps, one line per event for an operator.

A detector that stays on after a fault is right that the machine changed, but an operator wants
one alarm per event. Flagged timestamps of one group form an event; a run of fewer than
`gap` unflagged timestamps does not end it (a score hovering at the threshold is one event, not
twenty). Each event reports its start and end, its flagged and total rows, the peak score with
its time, and the sensors with the largest error share at the peak.

`EventCollector` works on the scored stream chunk by chunk (rows in time order per group), so
the events of a file scored in chunks are the events of the file scored at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

EVENT_COLUMNS = ["group", "start", "end", "rows", "flagged_rows", "peak_time", "peak_score",
                 "top_features"]


@dataclass
class _Open:
    """An event still open in one group."""

    start: Any
    end: Any
    rows: int
    flagged: int
    peak_time: Any
    peak_score: float
    top: str
    quiet: int = 0  # unflagged rows since its last flagged row


@dataclass
class EventCollector:
    """Group flagged timestamps of scored chunks into events (see module docstring).

    Example:
        >>> c = EventCollector("t", None, gap=2)
        >>> c.add(pd.DataFrame({"t": range(8), "anomaly_score": [0, 5, 0, 6, 0, 0, 7, 0.0],
        ...                     "is_anomaly": [0, 1, 0, 1, 0, 0, 1, 0],
        ...                     "top_features": ["a"] * 8}))
        >>> c.finish()[["start", "end", "flagged_rows", "peak_time"]].values.tolist()
        [[1, 3, 2, 3], [6, 6, 1, 6]]
    """

    time_col: str
    group_col: str | None
    gap: int
    events: list[dict[str, Any]] = field(default_factory=list)
    _open: dict[str, _Open] = field(default_factory=dict)

    def add(self, scored: pd.DataFrame) -> None:
        """Take one scored chunk (the rows of each group in time order)."""
        if not len(scored):
            return
        groups = (scored[self.group_col].astype("string").fillna("").to_numpy(dtype=object)
                  if self.group_col else np.full(len(scored), "", dtype=object))
        flags = scored["is_anomaly"].to_numpy(dtype=bool)
        for key, positions in pd.Series(groups).groupby(groups, sort=False).indices.items():
            idx = np.asarray(positions)
            self._take(str(key), scored.iloc[idx], flags[idx])

    def _take(self, group: str, rows: pd.DataFrame, flags: np.ndarray) -> None:
        times = rows[self.time_col].to_numpy()
        scores = rows["anomaly_score"].to_numpy(dtype=np.float64)
        tops = rows["top_features"].astype(str).to_numpy()
        current = self._open.get(group)
        flagged = np.flatnonzero(flags)
        last = -1
        for i in flagged:  # only flagged rows cost a Python step
            quiet = int(i - last - 1) + (current.quiet if current and last < 0 else 0)
            if current is not None and quiet >= self.gap:
                self._close(group, current)
                current = None
            if current is None:
                current = _Open(times[i], times[i], 1, 1, times[i], scores[i], tops[i])
            else:
                current.rows += quiet + 1
                current.flagged += 1
                current.end = times[i]
                if scores[i] > current.peak_score:
                    current.peak_time, current.peak_score, current.top = (times[i], scores[i],
                                                                          tops[i])
            current.quiet = 0
            last = int(i)
        if current is not None:
            current.quiet += len(flags) - last - 1 if last >= 0 else len(flags)
            if current.quiet >= self.gap:
                self._close(group, current)
                current = None
        if current is None:
            self._open.pop(group, None)
        else:
            self._open[group] = current

    def _close(self, group: str, event: _Open) -> None:
        self.events.append({"group": group, "start": event.start, "end": event.end,
                            "rows": event.rows, "flagged_rows": event.flagged,
                            "peak_time": event.peak_time, "peak_score": event.peak_score,
                            "top_features": event.top})

    def finish(self) -> pd.DataFrame:
        """All events (those still open end at their last flagged row), by start time."""
        for group, event in self._open.items():
            self._close(group, event)
        self._open.clear()
        table = pd.DataFrame(self.events, columns=EVENT_COLUMNS)
        if not self.group_col:
            table = table.drop(columns=["group"])
        return table.sort_values("start", kind="stable", ignore_index=True)


def flag_runs(flags: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Events of one series as (first, last) flagged positions, by the collector's rule.

    Example:
        >>> flag_runs(np.array([0, 1, 0, 1, 0, 0, 1, 0]), gap=2)
        [(1, 3), (6, 6)]
    """
    collector = EventCollector("t", None, gap)
    collector.add(pd.DataFrame({"t": np.arange(len(flags)), "anomaly_score": 0.0,
                                "is_anomaly": np.asarray(flags, dtype=bool),
                                "top_features": ""}))
    table = collector.finish()
    return [(int(a), int(b)) for a, b in zip(table["start"], table["end"], strict=True)]
