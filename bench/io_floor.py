"""The I/O floor of `anomaly score`, as a process: pyarrow streams a CSV in and writes a scored
output of the same shape (the id column, anomaly_score, score_percentile, is_anomaly,
top_features) — reading, parsing and writing only, no model.

`bench/score_speed.py` times this script as a whole process next to `anomaly score`.
Usage: python bench/io_floor.py INPUT.csv OUTPUT.csv
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.csv as pacsv

BLOCK_BYTES = 1 << 23  # the block size `anomaly score` reads with (anomaly.io.CSV_BLOCK_BYTES)


def main(src: str, dst: str) -> None:
    """Stream `src` block by block and write a same-shaped scored output to `dst`."""
    reader = pacsv.open_csv(src, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES))
    writer = None
    for batch in reader:
        n = batch.num_rows
        first = batch.column(1).cast(pa.float64())
        table = pa.table({"id": batch.column(0), "anomaly_score": first,
                          "score_percentile": first, "is_anomaly": pa.repeat(False, n),
                          "top_features": pa.repeat("x12 41%, x3 22%, x30 9%", n)})
        writer = writer or pacsv.CSVWriter(dst, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
