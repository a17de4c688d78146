"""How a file to score is read for a tabular model — torch-free, so that `anomaly score` can
start reading (`anomaly.jobs.readahead.early_chunks`) while the network is still being loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from anomaly.config import Settings
from anomaly.io import iter_table
from anomaly.kinds.tabular.features import TabularFeatures


def numeric_columns(features: TabularFeatures) -> list[str]:
    """Numeric feature columns: parsed as float64 straight from CSV."""
    return [str(c.name) for c in features.numeric]


def read_rows(features: TabularFeatures, settings: Settings, path: Path, chunk_rows: int,
              block_bytes: int) -> Iterator[pd.DataFrame]:
    """The file's rows, chunk by chunk (ids kept as written)."""
    return iter_table(path, chunk_rows, numeric_columns(features), block_bytes,
                      settings.data.id_col)
