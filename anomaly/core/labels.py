"""0/1 labels (1 = anomaly): one rule for arrays in code and for label columns in user files.

Example:
    >>> binary(np.array([0, 1, True]), "labels").tolist()
    [0, 1, 1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anomaly.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def _invalid(values: np.ndarray) -> np.ndarray:
    """Mask of entries that are not 0 or 1 (NaN included)."""
    return ~np.isin(values, (0, 1))


def binary(values: np.ndarray, name: str = "labels") -> np.ndarray:
    """`values` as a 1-D int array of 0/1, or `ValueError` saying what is wrong."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}.")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN; drop those rows or fill them with 0/1.")
    if _invalid(arr).any():
        raise ValueError(f"{name} must contain only 0 and 1: 0 (normal) or 1 (anomaly); "
                         "recode them.")
    return arr.astype(int)


def check_labels(series: pd.Series, column: str, source: str) -> np.ndarray:
    """A label column of a user's file as booleans (True = anomaly), or `InputError` naming the
    first bad row. Accepts 0/1, "0"/"1" and true/false."""
    import pandas as pd  # here: thresholds import this module, and quick commands no pandas

    values = (series.astype(float) if pd.api.types.is_bool_dtype(series)
              else pd.to_numeric(series, errors="coerce"))
    bad = _invalid(values.to_numpy(dtype=np.float64))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: label column {column!r} row {first + 1:,}: "
                         f"{series.iloc[first]!r} is not 0 or 1 — labels must be 0 (normal) or "
                         "1 (anomaly)")
    flags: np.ndarray = values.to_numpy(dtype=np.float64) == 1
    return flags
