"""A Parquet copy of a scored CSV, kept beside it for the dashboard.

Parsing a million-row scored CSV takes seconds; reading the same rows from Parquet a fraction of
that. For outputs in ``<workspace>/scores/`` (where the dashboard looks), `anomaly score` writes
the copy as a hidden file (``.<name>.parquet``, which the dashboard's file list skips) while it
writes the CSV, then gives it the CSV's modification time.
The copy is trusted only while both times are equal: a CSV that anything else rewrites later is
read as CSV again, and an old copy is never shown for a new file.

Example:
    >>> sidecar_path(Path("scores/big.scored.csv"))
    PosixPath('scores/.big.scored.csv.parquet')
"""

from __future__ import annotations

import os
from pathlib import Path


def sidecar_path(csv: Path) -> Path:
    """Where the Parquet copy of scored CSV `csv` lives."""
    return csv.with_name(f".{csv.name}.parquet")


def seal(csv: Path) -> None:
    """Mark the copy of `csv` as made from it (both in place): the CSV's modification time."""
    stamp = csv.stat().st_mtime_ns
    os.utime(sidecar_path(csv), ns=(stamp, stamp))


def fresh_sidecar(csv: Path) -> Path | None:
    """The Parquet copy of `csv` when it was made from the CSV as it is now, else None."""
    side = sidecar_path(csv)
    try:
        return side if side.stat().st_mtime_ns == csv.stat().st_mtime_ns else None
    except OSError:
        return None
