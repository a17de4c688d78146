"""The shape of `bundle.json`, checked before any of it is used.

`check_meta` validates the whole document against one schema — types, finite numbers, file names
that stay inside the bundle folder — and raises one `BundleError` naming the first bad field, so
an edited bundle (even one whose checksum was recomputed) cannot switch off the hash checks,
flag nothing with a NaN threshold, hang on ``/dev/zero`` or break `anomaly models`.

Example:
    >>> check_meta({"format": "anomaly-bundle"}, Path("b/bundle.json"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    anomaly.errors.BundleError: b/bundle.json: field 'format_version' is missing — ...
"""

from __future__ import annotations

import math
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anomaly.errors import BundleError

MAX_META_BYTES = 64 << 20  # bundle.json: vocabularies and templates, never this big
MAX_FILE_BYTES = 8 << 30  # any other bundle file (weights)
REQUIRED_FILES = ("model.safetensors", "history.csv", "validation_scores.csv")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

Check = Callable[[Any], str | None]  # a value → what is wrong with it, or None


def _type(*kinds: type) -> Check:
    names = " or ".join({"str": "text", "dict": "an object", "list": "a list"}.get(
        k.__name__, k.__name__) for k in kinds)

    def check(value: Any) -> str | None:
        return None if isinstance(value, kinds) else f"must be {names}"
    return check


def _integer(low: int = 0) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return None if ok else f"must be a whole number >= {low}"
    return check


def _finite(value: Any) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return None if number and math.isfinite(value) else "must be a finite number"


def _hex64(value: Any) -> str | None:
    return None if isinstance(value, str) and HEX64.match(value) else "must be a SHA-256 hex"


TOP: dict[str, Check] = {
    "format": _type(str), "format_version": _integer(1), "name": _type(str),
    "version": _integer(1), "created_at": _type(str), "kind": _type(str),
    "schema": _type(dict), "features": _type(dict), "network": _type(dict),
    "settings": _type(dict), "training": _type(dict), "scoring": _type(dict),
    "threshold": _type(dict), "data": _type(dict), "versions": _type(dict),
    "files": _type(dict), "checksum": _hex64,
}
THRESHOLD: dict[str, Check] = {"version": _integer(1), "method": _type(str), "value": _finite,
                               "params": _type(dict)}
HISTORY_ENTRY: dict[str, Check] = {"version": _integer(1), "method": _type(str),
                                   "value": _finite}
NETWORK: dict[str, Check] = {"class": _type(str), "args": _type(dict)}
COLUMN: dict[str, Check] = {"name": _type(str), "role": _type(str)}


def check_meta(meta: Any, file: Path) -> dict[str, Any]:
    """`meta` itself when it fits the schema; else `BundleError` naming the first bad field."""
    _fields(meta, TOP, "", file)
    threshold = meta["threshold"]
    _fields(threshold, THRESHOLD, "threshold.", file)
    for key, value in threshold["params"].items():
        _field(value, _finite, f"threshold.params.{key}", file)
    history = threshold.get("history", [])
    _field(history, _type(list), "threshold.history", file)
    for i, entry in enumerate(history):
        _fields(entry, HISTORY_ENTRY, f"threshold.history[{i}].", file)
    _fields(meta["network"], NETWORK, "network.", file)
    columns = meta["schema"].get("columns")
    _field(columns, _type(list), "schema.columns", file)
    for i, column in enumerate(columns):
        _fields(column, COLUMN, f"schema.columns[{i}].", file)
    files = meta["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            _fail(file, f"files.{name}", "is missing")
    for name, digest in files.items():
        if not SAFE_FILE.match(name) or ".." in name:
            _fail(file, "files", f"names {name[:40]!r}, not a file inside the bundle folder")
        _field(digest, _hex64, f"files.{name}", file)
    return dict(meta)


def check_files(folder: Path, meta: dict[str, Any]) -> None:
    """Every file of `meta['files']` is a regular file (not a link, device or FIFO) of sane size."""
    for name in meta["files"]:
        target = folder / name
        try:
            info = target.lstat()
        except FileNotFoundError:
            raise BundleError(f"{target}: missing from the bundle — restore it or retrain"
                              ) from None
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"{target}: not a regular file (a link or special file) — a "
                              "bundle holds plain files only; restore it or retrain")
        if info.st_size > MAX_FILE_BYTES:
            raise BundleError(f"{target}: {info.st_size:,} bytes is over the limit of "
                              f"{MAX_FILE_BYTES:,} — restore the bundle or retrain")


def check_meta_size(file: Path) -> None:
    """`BundleError` when bundle.json is not a regular file or is implausibly big."""
    info = file.lstat()
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_META_BYTES:
        raise BundleError(f"{file}: not a regular file of at most {MAX_META_BYTES:,} bytes — "
                          "restore the bundle or retrain")


def _fields(value: Any, spec: dict[str, Check], prefix: str, file: Path) -> None:
    if not isinstance(value, dict):
        _fail(file, prefix.rstrip(".") or "bundle.json", "must be an object")
    for key, check in spec.items():
        if key not in value:
            _fail(file, prefix + key, "is missing")
        _field(value[key], check, prefix + key, file)


def _field(value: Any, check: Check, name: str, file: Path) -> None:
    problem = check(value)
    if problem:
        _fail(file, name, f"{problem} (found {str(value)[:40]!r})")


def _fail(file: Path, name: str, problem: str) -> None:
    raise BundleError(f"{file}: field {name!r} {problem} — bundle.json was edited or corrupted; "
                      "restore the bundle or retrain")
