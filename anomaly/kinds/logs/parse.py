"""Temporary re-exports for modules not yet switched to the split of this module.

Reading logs now lives in `anomaly.kinds.logs.options` (`LogOptions`, `log_options`),
`anomaly.kinds.logs.lines` (`read_text_lines`) and `anomaly.kinds.logs.sessions` (`ITEMS`,
`read_sessions`, `sessions_from_events`, `sessions_from_lines`). Import from those; this module
goes away once `anomaly/kinds/logs/detector.py` and `anomaly/cli/logs.py` do.
"""

from anomaly.kinds.logs.lines import read_text_lines
from anomaly.kinds.logs.options import LogOptions, log_options
from anomaly.kinds.logs.sessions import (
    ITEMS,
    read_sessions,
    sessions_from_events,
    sessions_from_lines,
)

__all__ = ["ITEMS", "LogOptions", "log_options", "read_sessions", "read_text_lines",
           "sessions_from_events", "sessions_from_lines"]
