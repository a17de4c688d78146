"""Scoring speed: `anomaly score`'s path vs the I/O floor and vs PyOD's AutoEncoder.

Generates a synthetic 1,000,000-row × 32-column numeric CSV in a temporary folder (deleted
afterwards; no /work/shared data is needed), trains a small model on 20,000 rows, then measures
in the same run, one after the other:

- floor: pyarrow streaming-reads the CSV and writes an output of the scored output's shape
  (anomaly_score, score_percentile, is_anomaly, top_features) — I/O and parsing only;
- anomaly: `anomaly.jobs.score.score_file` (what `anomaly score MODEL INPUT -o OUT` runs
  after loading);
- pyod: PyOD `AutoEncoder.decision_function` on the same rows already in memory (no I/O;
  timed on the first 100,000 rows, as PyOD is slow), against ours on the same in-memory rows
  (`Detector.score_frame`: scores, percentiles, flags and top features — more than PyOD gives);
- pyod job: the same job done with PyOD end to end — pandas `read_csv`, `decision_function`,
  `to_csv` of the scores — against `anomaly score` end to end.

Prints rows/s and the ratios anomaly/floor (target ≥ 0.7) and anomaly/PyOD (target ≥ 5). Note
that reading and writing the CSV alone (the I/O floor) runs only ~2× PyOD's in-memory rate on a
2-core machine, so "CSV to CSV vs PyOD in memory" cannot reach 5× there; the script prints the
floor's own ratio next to ours.
Usage: python -m bench.score_speed [--rows 1000000] [--no-pyod]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's `anomaly`
from bench._common import best, timed

COLUMNS = 32
PYOD_ROWS = 100_000


def make_csv(path: Path, rows: int, seed: int = 0, keep: int | None = None) -> np.ndarray:
    """Correlated numeric columns (8 latent factors), 4 decimals; returns the first `keep`
    rows (default all) as float32."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(8, COLUMNS))
    keep = rows if keep is None else min(keep, rows)
    out = np.empty((keep, COLUMNS), dtype=np.float32)
    step = 200_000
    with pacsv.CSVWriter(path, pa.schema([(f"x{j}", pa.float32()) for j in range(COLUMNS)])) as w:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            block = rng.normal(size=(n, 8)) @ mixing + 0.1 * rng.normal(size=(n, COLUMNS))
            block = np.round(block, 4).astype(np.float32)
            if start < keep:
                out[start:min(start + n, keep)] = block[:keep - start]
            w.write_table(pa.table({f"x{j}": block[:, j] for j in range(COLUMNS)}))
    return out


def io_floor(src: Path, dst: Path) -> float:
    """Seconds to stream-read `src` and write a same-shaped scored output (nothing else)."""
    from anomaly.io import CSV_BLOCK_BYTES

    start = time.perf_counter()
    reader = pacsv.open_csv(src, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES))
    writer = None
    for batch in reader:
        n = batch.num_rows
        first = batch.column(0).cast(pa.float64())
        table = pa.table({"anomaly_score": first, "score_percentile": first,
                          "is_anomaly": pa.repeat(False, n),
                          "top_features": pa.repeat("x12 41%, x3 22%, x30 9%", n)})
        writer = writer or pacsv.CSVWriter(dst, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--no-pyod", action="store_true")
    args = parser.parse_args()

    import pandas as pd
    import torch

    from anomaly import load_detector
    from anomaly.core.detector import Detector
    from anomaly.jobs.score import score_file

    folder = Path(tempfile.mkdtemp(prefix="anomaly-bench-"))
    try:
        src = folder / "data.csv"
        t = time.perf_counter()
        data = make_csv(src, args.rows)
        print(f"data: {args.rows:,} rows × {COLUMNS} columns, {src.stat().st_size / 1e6:.0f} MB "
              f"({time.perf_counter() - t:.1f}s to make); torch threads {torch.get_num_threads()}")
        train = pd.DataFrame(data[:args.train_rows].astype(np.float64),
                             columns=[f"x{j}" for j in range(COLUMNS)])
        t = time.perf_counter()
        Detector(max_epochs=5, patience=0, batch_size=256).fit(train).save(folder / "models",
                                                                            "bench")
        detector = load_detector("bench", folder / "models")
        print(f"trained on {args.train_rows:,} rows in {time.perf_counter() - t:.1f}s")

        floor = io_floor(src, folder / "floor.csv")
        t = time.perf_counter()
        summary = score_file(detector, src, folder / "scored.csv")
        ours = time.perf_counter() - t
        assert summary.rows == args.rows
        rate, floor_rate = args.rows / ours, args.rows / floor
        print(f"I/O floor (pyarrow read + write)  {floor_rate:>12,.0f} rows/s  ({floor:.2f}s)")
        print(f"anomaly score                     {rate:>12,.0f} rows/s  ({ours:.2f}s)")
        print(f"ratio anomaly / I/O floor: {rate / floor_rate:.2f}  (target >= 0.7)")
        if not args.no_pyod:
            model = pyod_model(data, args.train_rows)
            if model is None:
                return
            sample = data[:PYOD_ROWS]
            pyod_rate = len(sample) / best([timed(lambda: model.decision_function(sample))
                                             for _ in range(3)])
            frame = pd.DataFrame(sample, columns=[f"x{j}" for j in range(COLUMNS)])
            ours_mem = len(sample) / best([timed(lambda: detector.score_frame(frame))
                                           for _ in range(3)])
            print(f"in memory, {PYOD_ROWS:,} rows (best of 3 each):")
            print(f"  PyOD AutoEncoder.decision_function {pyod_rate:>11,.0f} rows/s")
            print(f"  anomaly Detector.score_frame       {ours_mem:>11,.0f} rows/s")
            print(f"  ratio anomaly / PyOD in memory: {ours_mem / pyod_rate:.2f}  (target >= 5)")
            job = args.rows / timed(lambda: pyod_job(model, src, folder / "pyod.csv"))
            print(f"end to end, {args.rows:,} rows CSV -> CSV:")
            print(f"  PyOD job (read_csv, decision_function, to_csv) {job:>11,.0f} rows/s")
            print(f"  anomaly score                                  {rate:>11,.0f} rows/s")
            print(f"  ratio anomaly / PyOD job: {rate / job:.2f}  (target >= 5)")
            print(f"  ratio anomaly end to end / PyOD in memory: {rate / pyod_rate:.2f} "
                  f"(the I/O floor alone: {floor_rate / pyod_rate:.2f})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pyod_model(data: np.ndarray, train_rows: int) -> Any:
    """PyOD's AutoEncoder fitted on the first `train_rows` rows (None when not installed)."""
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        print("PyOD not installed (pip install 'anomaly[bench]'): skipped")
        return None
    model = AutoEncoder(epoch_num=2, verbose=0, batch_size=256)
    model.fit(data[:train_rows])
    return model


def pyod_job(model: Any, src: Path, dst: Path) -> None:
    """The scoring job done with PyOD: read the CSV, score every row, write the scores."""
    import pandas as pd

    frame = pd.read_csv(src, dtype=np.float32)
    scores = model.decision_function(frame.to_numpy())
    pd.DataFrame({"anomaly_score": scores}).to_csv(dst, index=False)


if __name__ == "__main__":
    main()
