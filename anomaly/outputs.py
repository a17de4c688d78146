"""Where a command may write, and what a CSV output may hold.

One rule for every command that writes scored outputs (`anomaly score`, `anomaly batch`):

- a target that is an input of the same run, or that exists and is not a regular file (a
  folder, a FIFO, a character device such as /dev/null), is refused with `OutputError` (exit 2)
  before any work; `-` means standard output (CSV), for pipelines;
- text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return) are written with a leading ``'`` in CSV outputs (OWASP CSV
  injection); numbers stay numbers and Parquet outputs are unchanged. Column names are
  neutralised the same way.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from anomaly.errors import OutputError
from anomaly.io import file_kind

STDOUT = Path("-")
FORMULA_CHARS = "=+-@\t\r"


def is_stdout(path: Path | None) -> bool:
    """True for the target `-` (standard output)."""
    return path is not None and str(path) == "-"


def check_targets(targets: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Refuse targets that would destroy something; see the module docstring.

    Example:
        >>> check_targets([Path("/dev/null")], [])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        anomaly.errors.OutputError: -o /dev/null: exists and is a character device, not a ...
    """
    sources = [p for p in inputs if not is_stdout(p)]
    for target in targets:
        if is_stdout(target):
            continue
        check_target(target, sources)


def check_target(target: Path, inputs: Iterable[Path] = ()) -> None:
    """`OutputError` when `target` is one of `inputs` or exists and is not a regular file."""
    try:
        info = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"-o {target}: cannot be checked ({exc.strerror}) — choose another "
                          "output path") from exc
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"-o {target}: exists and is {file_kind(info.st_mode)}, not a regular "
                          "file — write to a file path (or -o - for standard output)")
    for source in inputs:
        try:
            same = Path(source).samefile(target)
        except OSError:
            continue
        if same:
            raise OutputError(f"-o {target}: is the input {source} of this run — writing the "
                              "scores there would destroy it; choose another output path")


def csv_safe(table: pa.Table) -> pa.Table:
    """`table` with formula-like text cells and column names prefixed by ``'`` (CSV only).

    Vectorised over text columns only (numeric columns are passed through untouched).

    Example:
        >>> csv_safe(pa.table({"id": ["=1+1", "ok"], "x": [1.0, -2.0]})).to_pydict()
        {'id': ["'=1+1", 'ok'], 'x': [1.0, -2.0]}
    """
    columns, names = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        names.append(_safe_text(name))
        kind = column.type
        if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
            column, kind = column.cast(kind.value_type), kind.value_type  # same type every chunk
        if _is_text(kind):
            flagged = _formula_like(column, kind)
            if pc.any(flagged).as_py():
                column = pc.if_else(flagged, pc.binary_join_element_wise(
                    pa.scalar("'", kind), column, pa.scalar("", kind)), column)
        columns.append(column)
    return pa.table(columns, names=names)


def _formula_like(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """True where a text cell's first byte starts a formula (the bytes viewed without a copy;
    ~2.5x faster than a regex). Nulls are False."""
    raw = pa.large_binary() if pa.types.is_large_string(kind) else pa.binary()
    first = pc.binary_slice(column.cast(raw), 0, 1)
    return pc.is_in(first, value_set=pa.array([c.encode() for c in FORMULA_CHARS], raw))


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _safe_text(text: str) -> str:
    return f"'{text}" if text[:1] and text[0] in FORMULA_CHARS else text
