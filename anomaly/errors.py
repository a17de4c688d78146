"""Error types. Every message says what is wrong, where (file, column, row) and how to fix it.

`AnomalyError` and its subclasses are *expected* failures caused by the user's input: the CLI turns
them into one paragraph on stderr and exit code 2, never a traceback. They also subclass
`ValueError` so that scikit-learn tooling treats them like its own validation errors.
"""

from __future__ import annotations


class AnomalyError(ValueError):
    """Base class for errors caused by input, configuration or bundles (CLI exit code 2)."""


class InputError(AnomalyError):
    """A data file cannot be read or holds values the detector cannot use."""


class SchemaError(AnomalyError):
    """A data file's columns do not match what the detector expects."""


class ConfigError(AnomalyError):
    """A setting or config file is invalid."""


class BundleError(AnomalyError):
    """A model bundle is missing, corrupt, tampered with or of a foreign format."""


class LockedError(AnomalyError):
    """Another run holds the lock on the same resource."""


class OutputError(AnomalyError):
    """An output target that must not be written (an input of the run, a device, a folder)."""


class LedgerError(AnomalyError):
    """The run ledger (runs.db) cannot be opened, read or written."""


class MachineError(Exception):
    """The machine failed, not the input: a full disk, an unwritable or vanished folder.

    Not an `AnomalyError`: the input is fine and stays where it is (a batch run stops instead
    of quarantining it). The CLI prints the message and exits 1, without a traceback.
    """


class ReaderLeft(Exception):  # noqa: N818 (a signal, not an error)
    """The reader of standard output left (``anomaly score … -o - | head``): stop quietly.

    Not an `OSError`, which Click would turn into exit code 1 on its own."""
