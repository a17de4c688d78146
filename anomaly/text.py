"""Data shown on a terminal: control characters escaped, long values cut.

Everything the CLI prints goes through `printable` (in `anomaly.cli.app.echo` and the error and
log output), so data can never send escape sequences (colours, OSC titles, cursor moves) to the
user's terminal. Messages quote data through `excerpt`, so a bad row, a symlinked secret or a
200,000-character id is quoted by a short piece only; files keep the full values.
"""

from __future__ import annotations

import re

EXCERPT_CHARS = 80
CELL_CHARS = 60

# C0 controls except tab and newline, DEL, and C1 controls (0x80-0x9f: CSI, OSC in 8-bit form)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    r"""`text` with control characters (ESC, BEL, CR…) written as visible escapes.

    Example:
        >>> printable("ok\x1b]0;pwned\x07")
        'ok\\x1b]0;pwned\\x07'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """The start of `value` as text, at most `limit` characters, with '…' when cut.

    Example:
        >>> excerpt("x" * 100, 10)
        'xxxxxxxxx…'
    """
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def quoted(value: object, limit: int = EXCERPT_CHARS) -> str:
    """`repr`-style quote of a data value, cut to `limit` characters.

    Example:
        >>> quoted("abc")
        "'abc'"
    """
    return repr(excerpt(value, limit))


def count(n: int, noun: str) -> str:
    """``"1,500 rows"``, ``"1 session"``: a number of items in words.

    Example:
        >>> count(1500, "row"), count(1, "session")
        ('1,500 rows', '1 session')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
