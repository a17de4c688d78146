"""Reading and writing data files: CSV or Parquet, checked; tables written atomically.

Every problem is raised as `InputError` naming the file and the fix. Writes go through
`anomaly.atomic` (a temporary file renamed into place).
"""

from __future__ import annotations

import io
import logging
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from anomaly.atomic import atomic_path, writing
from anomaly.errors import InputError
from anomaly.text import excerpt

log = logging.getLogger("anomaly")

PARQUET_SUFFIXES = (".parquet", ".pq")
SNIFF_BYTES = 64 * 1024
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def is_parquet(path: Path) -> bool:
    """True when the file name says Parquet (``.parquet`` / ``.pq``)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


def check_file(path: Path, what: str = "a data file — pass a CSV or Parquet file") -> None:
    """Raise `InputError` if `path` is missing or a folder; `what` says what it should be.

    Example:
        >>> check_file(Path("no-such.log"), "a log file — pass log files")
        Traceback (most recent call last):
        ...
        anomaly.errors.InputError: no-such.log: file not found — check the path
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: file not found — check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be opened ({exc.strerror}) — check the path and "
                         "permissions") from exc
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: is a folder, not {what}")
    if not stat.S_ISREG(mode):
        raise InputError(f"{path}: is {file_kind(mode)}, not a regular file — save the data to "
                         "a file and pass that (anomaly reads its inputs more than once)")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (from `os.stat().st_mode`).

    Example:
        >>> file_kind(stat.S_IFIFO)
        'a FIFO or pipe (named pipe or process substitution)'
    """
    kinds = ((stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a FIFO or pipe (named pipe or process substitution)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def check_readable(path: Path) -> None:
    """Raise `InputError` if `path` is missing, a folder, empty or binary (for a CSV)."""
    check_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty — pass a CSV with a header row and data rows")
    if is_parquet(path):
        return
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    _check_text(head, path)


def check_utf8(table: pa.Table, label: str, first_row: int = 0) -> pa.Table:
    """`table` (parsed from CSV) when its text is UTF-8; else `InputError` naming the first bad
    cell. pyarrow reads a column holding invalid UTF-8 as bytes, which pandas cannot decode.

    Example:
        >>> check_utf8(pa.table({"a": pa.array([b"ok", b"caf\\xe9"])}), "x.csv", 10)
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        anomaly.errors.InputError: x.csv: column 'a' row 12: b'caf\\xe9' is not UTF-8 text — ...
    """
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            continue
        for row, value in enumerate(column.to_pylist()):
            try:
                if value is not None:
                    value.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    f"{label}: column {name!r} row {first_row + row + 1:,}: "
                    f"{excerpt(value)} is not UTF-8 text — save the file as UTF-8 CSV (e.g. "
                    'Excel\'s "CSV UTF-8")') from None
    return table


def _check_text(head: bytes, path: Path) -> None:
    """Raise `InputError` if the first bytes of a would-be CSV are binary or not UTF-8 (text
    that is not UTF-8 further on is reported by cell: `check_utf8`)."""
    if b"\x00" in head or head.startswith(b"PAR1"):
        raise InputError(
            f"{path}: looks like a binary file, not a CSV — export the data as comma-separated "
            "text (or name a Parquet file *.parquet)"
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the sniff boundary is fine
            raise InputError(
                f"{path}: byte {exc.start} is not UTF-8 text — save the file as UTF-8 CSV"
            ) from exc


def _check_shape(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    if table.shape[1] == 1:
        header = str(table.columns[0])
        for delimiter, name in OTHER_DELIMITERS.items():
            if delimiter in header:
                raise InputError(
                    f"{path}: found a single column {header[:60]!r}; the file looks "
                    f"{name}-separated — save it comma-separated"
                )
    if len(table) == 0:
        raise InputError(f"{path}: has a header but no data rows — add rows to the file")
    duplicated = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
    if duplicated:
        raise InputError(f"{path}: duplicate column name(s) {', '.join(duplicated)} — rename them")
    return table


def _csv_read_options(block_size: int | None = None) -> pacsv.ReadOptions:
    if block_size is None:
        return pacsv.ReadOptions()
    return pacsv.ReadOptions(block_size=block_size)


# Plain strings stay strings: pyarrow otherwise turns 'NA'-like tokens and dates into other types
# silently; the feature code converts columns itself and reports bad values by row. Dates stay
# text so that outputs keep them as written: an empty list of parsers means pyarrow's default ISO
# parser, so the one parser given is a format that matches no date.
NO_TIMESTAMPS = ["\x00"]
_CONVERT = pacsv.ConvertOptions(
    strings_can_be_null=True, timestamp_parsers=NO_TIMESTAMPS, quoted_strings_can_be_null=True
)


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a whole CSV or Parquet file into a DataFrame, with clear errors.

    Example:
        >>> df = read_table("data/transactions_train.csv")  # doctest: +SKIP
    """
    path = Path(path)
    check_readable(path)
    try:
        if is_parquet(path):
            table = pq.read_table(path)
        else:
            table = check_utf8(pacsv.read_csv(path, read_options=_csv_read_options(),
                                              convert_options=_CONVERT), str(path))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise read_error(path, exc) from exc
    return _check_shape(table.to_pandas(), path)


def read_table_bytes(data: bytes, name: str) -> pd.DataFrame:
    """Read a CSV or Parquet file held in memory (an upload), with the checks of `read_table`.

    Example:
        >>> read_table_bytes(b"a,b\\n1,2\\n", "x.csv").shape
        (1, 2)
    """
    path = Path(name)
    if not data:
        raise InputError(f"{name}: the file is empty — pass a CSV with a header row and data rows")
    try:
        if is_parquet(path):
            table = pq.read_table(pa.BufferReader(data))
        else:
            _check_text(data[:SNIFF_BYTES], path)
            table = check_utf8(pacsv.read_csv(pa.BufferReader(data), convert_options=_CONVERT),
                               name)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise read_error(path, exc) from exc
    return _check_shape(table.to_pandas(), path)


CSV_BLOCK_BYTES = 1 << 23  # ~8 MB of CSV text per chunk: bounded memory (bench/score_memory.py)
CHUNK_ROWS = 200_000  # rows per chunk of a Parquet file (CSV files: per block of CSV_BLOCK_BYTES)


def iter_table(path: Path | str, chunk_rows: int = CHUNK_ROWS, numeric: Sequence[str] = (),
               block_size: int = CSV_BLOCK_BYTES, text: Sequence[str] = ()
               ) -> Iterator[pd.DataFrame]:
    """Yield a CSV or Parquet file as DataFrames of about `chunk_rows` rows (bounded memory).

    CSV files are read in blocks of about `block_size` bytes; columns named in `numeric` are
    parsed as float64 directly and the other columns keep the types of the first block. A block
    holding text in such a column is parsed again with its types inferred, and the feature code
    reports the bad value by row and column (or skips it with --on-bad-rows skip). Columns
    named in `text` (ids) are kept as written: ``NA`` or an empty cell stays text, not missing.

    Example:
        >>> sum(len(c) for c in iter_table("data/transactions_test.csv"))  # doctest: +SKIP
        2000
    """
    path = Path(path)
    check_readable(path)
    if is_parquet(path):
        yield from _iter_parquet(path, chunk_rows)
    else:
        yield from iter_csv(path, str(path), numeric, block_size, text)


CsvSource = Path | bytes


def iter_csv(source: CsvSource, label: str, numeric: Sequence[str] = (),
             block_size: int = CSV_BLOCK_BYTES, text: Sequence[str] = ()
             ) -> Iterator[pd.DataFrame]:
    """Yield CSV text (a file, or bytes holding a header and rows) in blocks; see `iter_table`.

    The text is cut into blocks of about `block_size` bytes at line ends (as pyarrow's own
    streaming reader does, line breaks inside quoted values are not supported) and each block
    is parsed on its own, so memory holds one block at a time: pyarrow's streaming reader reads
    ahead of a slower consumer by dozens of blocks. `label` names the data in messages.
    """
    opened = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")  # noqa: SIM115
    with opened as handle:
        header = handle.readline()
        while header and not header.strip():  # blank lines before the header are skipped
            header = handle.readline()
        names = _header_names(header, label) if header else []
        types: dict[str, pa.DataType] = {c: pa.float64() for c in numeric}
        done = 0
        for body in _blocks(handle, block_size):
            table = check_utf8(_keep_text(_parse_block(body, names, types, label, done), body,
                                          names, text), label, done)
            frame = table.to_pandas()
            if done == 0:
                _check_shape(frame, Path(label))
                # later blocks keep the first block's types (null = "no value yet": inferred)
                types = {**{f.name: f.type for f in table.schema
                            if not pa.types.is_null(f.type)}, **types}
            done += len(frame)
            yield frame


def _header_names(header: bytes, label: str) -> list[str]:
    """The column names of a CSV header line (parsed once; the blocks are parsed without it)."""
    try:
        return list(pacsv.read_csv(pa.BufferReader(header)).column_names)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{label}: cannot be read ({_first_line(exc)}) — check the file's "
                         "format") from exc


def _blocks(handle: BinaryIO, size: int) -> Iterator[pa.Buffer]:
    """Blocks of whole lines, about `size` bytes each, without copying them: a block ends at
    its last line end and the file is read on from there."""
    while data := handle.read(size):
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no line end in the block: a very long line, or the last line
            yield pa.py_buffer(data + handle.readline())
            continue
        if cut < len(data):
            handle.seek(cut - len(data), io.SEEK_CUR)
        yield pa.py_buffer(data)[:cut]


def _parse_block(data: pa.Buffer, names: list[str], types: dict[str, pa.DataType], label: str,
                 done: int) -> pa.Table:
    """Parse one block; if a typed column holds text, parse it again with types inferred, so
    that the feature code reports the bad value by row and column (or skips the row)."""
    try:
        return _read_csv_bytes(data, names, types)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if not (types and _is_conversion_error(exc)):
            raise InputError(f"{label}: cannot be read ({_first_line(exc)}) — check the file's "
                             "format") from exc
        log.info("%s: %s; rows from %d read with inferred types", label, _first_line(exc),
                 done + 1)
    try:
        return _read_csv_bytes(data, names, {})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{label}: cannot be read ({_first_line(exc)}) — check the file's "
                         "format") from exc


def _keep_text(table: pa.Table, data: pa.Buffer, header: list[str], text: Sequence[str]
               ) -> pa.Table:
    """`table` with the `text` columns as written in `data` where the reader made them null
    (``NA``, ``null``, empty): ids are text and round-trip exactly. Costs nothing unless such
    a text column holds a null token; a column read as numbers keeps its type, so the types
    of later blocks still match."""
    names = table.column_names  # a duplicated name is reported by `_check_shape`
    redo = [c for c in text if names.count(c) == 1 and table[c].null_count
            and (pa.types.is_string(table[c].type) or pa.types.is_null(table[c].type))]
    if not redo:
        return table
    convert = pacsv.ConvertOptions(include_columns=redo, column_types=dict.fromkeys(
        redo, pa.string()), strings_can_be_null=False, quoted_strings_can_be_null=False)
    exact = pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(
        column_names=header), convert_options=convert)
    for name in redo:
        table = table.set_column(table.column_names.index(name), name, exact[name])
    return table


def _read_csv_bytes(data: pa.Buffer, names: list[str], types: dict[str, pa.DataType]
                    ) -> pa.Table:
    convert = pacsv.ConvertOptions(
        strings_can_be_null=True, timestamp_parsers=NO_TIMESTAMPS,
        quoted_strings_can_be_null=True, column_types=types)
    return pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(
        column_names=names), convert_options=convert)


def _is_conversion_error(exc: BaseException) -> bool:
    return "conversion error" in str(exc).lower()


def _iter_parquet(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        for batch in pq.ParquetFile(path).iter_batches(chunk_rows):
            yield batch.to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise read_error(path, exc) from exc


def read_error(path: Path, exc: BaseException) -> InputError:
    """The `InputError` for a CSV or Parquet file (by its name) that a reader failed on.

    Example:
        >>> print(read_error(Path("x.parquet"), OSError("bad magic bytes\\nmore")))
        x.parquet: cannot be read as Parquet (bad magic bytes) — check the file's format
    """
    kind = "Parquet" if is_parquet(path) else "CSV"
    return InputError(f"{path}: cannot be read as {kind} ({_first_line(exc)}) — check the file's "
                      "format")


_ROW_QUOTE = re.compile(r"^(.*?(?:columns, got \d+|row)): (.+)$")


def _first_line(exc: BaseException) -> str:
    """The first line of a reader's message, quoting at most a short piece of a bad row."""
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    found = _ROW_QUOTE.match(text[0])
    if found:
        return f"{excerpt(found.group(1))}: {excerpt(found.group(2), 24)!r}"
    return excerpt(text[0])


def write_table(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write `frame` atomically as CSV (formula-safe, see `anomaly.outputs`) or Parquet."""
    from anomaly.outputs import csv_safe

    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp, writing(path):
        if is_parquet(path):
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(csv_safe(table), tmp)
    return path
