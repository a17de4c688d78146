"""Template drift: when many scored lines match no training template, the log format changed.

A log model knows the templates of its training logs. Lines matching none of them count as
"unknown templates" in a session's features (a strong anomaly signal); when they are a large
share of a whole file, it is rather the log format that changed (a new release, a new
component), and the model should be retrained on recent normal logs. The share is recorded per
scored file (`ScoreSummary.unknown_share`, the run ledger's ``unknown_share``); above
`UNKNOWN_LIMIT` the CLI and the Monitoring page say so, with the command to retrain.

Example:
    >>> from anomaly.kinds.logs.options import LogOptions
    >>> options = LogOptions(session_regex=r"blk_-?\\d+")
    >>> drift_note(0.2, "hdfs", options).split(" — ")[0]
    '20.0% of log lines match no training template (limit 5%): the log format has changed'
    >>> print(retrain_command("hdfs", options))
    anomaly train NORMAL.log --kind logs --session-regex 'blk_-?\\d+' --name hdfs
    >>> drift_note(0.01, "hdfs", options) is None
    True
"""

from __future__ import annotations

import shlex
from typing import Any

from anomaly.kinds.logs.options import LogOptions

# Normal HDFS lines of the training period's format: 0.08 % unknown (bench/logs_scale.py logs);
# a changed format leaves most lines unknown. 5 % sits far from both.
UNKNOWN_LIMIT = 0.05


def retrain_command(name: str, options: LogOptions) -> str:
    """The `anomaly train` command that cuts sessions as the model does."""
    if options.form == "text":
        cut = (f"--session-regex {shlex.quote(str(options.session_regex))}"
               if options.session_regex else f"--session-window {options.window:g}s")
        data = "NORMAL.log"
    else:
        column = (f"--event-col {shlex.quote(str(options.event_col))}" if options.event_col
                  else f"--sequence-col {shlex.quote(str(options.sequence_col))}")
        cut = f"--session-col {shlex.quote(str(options.session_col))} {column}"
        data = "NORMAL_EVENTS.csv"
    return f"anomaly train {data} --kind logs {cut} --name {shlex.quote(name)}"


def drift_note(share: float | None, name: str, options: LogOptions) -> str | None:
    """What to tell the user when `share` of the lines matched no template (None: all well)."""
    if share is None or share <= UNKNOWN_LIMIT:
        return None
    return (f"{share:.1%} of log lines match no training template (limit {UNKNOWN_LIMIT:.0%}): "
            "the log format has changed — retrain the model on recent normal logs: "
            f"{retrain_command(name, options)}")


def detector_note(share: float | None, name: str, features: Any) -> str | None:
    """`drift_note` for a log model's fitted `features` (None when `share` is: not a log)."""
    if share is None:
        return None
    return drift_note(share, name, features.options)
