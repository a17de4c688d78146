"""Atomic writes: a temporary file beside the target, renamed into place only on success.

A crash never leaves a half-written file under the final name, and a failed write (disk full,
permissions) is a `MachineError`, the machine's fault rather than the input's. Standard library
only, so that writing a bundle's JSON needs neither pandas nor pyarrow.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from anomaly.errors import MachineError


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe


def apply_umask(path: Path, directory: bool = False) -> None:
    """Give a mkstemp/mkdtemp path (0600/0700) the permissions a plain open() would have."""
    path.chmod((0o777 if directory else 0o666) & ~_UMASK)


def write_fault(target: Path, exc: OSError) -> MachineError:
    """The `MachineError` for a failed write of `target` (disk full, permissions…).

    Example:
        >>> print(write_fault(Path("out/x.csv"), OSError(28, "No space left on device")))
        ... # doctest: +ELLIPSIS
        out: cannot write x.csv (No space left on device) — free space or fix the folder's ...
    """
    cause = exc.strerror or str(exc) or type(exc).__name__
    return MachineError(f"{target.parent}: cannot write {target.name} ({cause}) — free space "
                            "or fix the folder's permissions, then run again")


@contextlib.contextmanager
def writing(target: Path) -> Iterator[None]:
    """Turn an `OSError` of the block (the output side) into `write_fault(target, …)`."""
    try:
        yield
    except OSError as exc:
        raise write_fault(target, exc) from exc


TEMP_SUFFIX = ".tmp"


def temp_owner() -> str:
    """Who owns a temporary file: ``<host>-<pid>`` (see `anomaly.jobs.batch.clean_stale_temps`)."""
    return f"{os.uname().nodename}-{os.getpid()}"


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` only if the block succeeds.

    The temporary name ``.<target name>.<random>.<host>-<pid>.tmp`` says which process owns it,
    so a cleanup removes only temps of processes that are gone. A failure to create, write or
    rename it is an `MachineError` (the machine's fault, not the input's).
    """
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.",
                                        suffix=f".{temp_owner()}{TEMP_SUFFIX}", dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with writing(target):
            apply_umask(tmp)  # outputs are shared files, not secrets: not mkstemp's 0600
        yield tmp
        with writing(target):
            tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp, writing(path):
        tmp.write_text(text, encoding="utf-8")
    return path
