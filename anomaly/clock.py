"""Time for the whole package: the current UTC time as text, and durations like ``5m``.

Example:
    >>> parse_duration("10m", "--every")
    600.0
    >>> parse_duration("1.5h", "--every")
    5400.0
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from anomaly.errors import InputError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]*)$")
_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0,
            "w": 604800.0}


def now(timespec: str = "seconds") -> str:
    """UTC time in ISO 8601, e.g. ``2026-12-01T22:07:08+00:00`` (sortable as text).

    Bundles record seconds; the run ledger asks for ``"milliseconds"`` to order runs.
    """
    return datetime.now(UTC).isoformat(timespec=timespec)


def parse_duration(text: str, flag: str) -> float:
    """Seconds in ``30s``, ``10m``, ``1h``, ``1d``, ``1w`` (a bare number means seconds).

    Raises `InputError` naming `flag` (the option the text came from) when it is not one.
    """
    match = _DURATION.match(text.strip().lower())
    if not match or match.group(2) not in _SECONDS or float(match.group(1)) <= 0:
        raise InputError(f"{flag} {text!r}: give a positive duration like 30s, 10m, 1h or 1d")
    return float(match.group(1)) * _SECONDS[match.group(2)]
