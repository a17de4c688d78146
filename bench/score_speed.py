"""Scoring speed as a user meets it: `anomaly score` as a whole process vs the I/O floor process.

Generates two synthetic CSV files of the same 1,000,000 rows (an integer `id` column and 32
correlated float columns) in a temporary folder (deleted afterwards; no /work/shared data is
needed): one with the floats at full precision, as numpy, pandas and pyarrow write them
(`0.6931907749193863`), one rounded to 4 decimals. A small model is trained on 20,000 rows,
then, round by round (interleaved, so machine noise hits both alike), each file is scored by

- floor: `python bench/io_floor.py IN OUT` — pyarrow streams the CSV in and writes an output of
  the scored output's shape (id, anomaly_score, score_percentile, is_anomaly, top_features):
  start-up, reading, parsing and writing only;
- anomaly: `python -m anomaly.cli score bench IN -o OUT --show 0` — the whole command (start-up,
  imports, loading the model, reading, scoring, writing).

The first table prints the seconds (best of the rounds) and the ratio floor / anomaly, i.e. our
speed as a share of the floor's (target ≥ 0.8 on both files), best against best and the median
of each round's ratio (on a busy machine one quiet moment can favour either side). The second
table compares the network alone, in memory, with PyOD's AutoEncoder on 100,000 rows (no I/O):
PyOD `decision_function` vs our `Detector.score_frame` (scores with the neighbour search,
percentiles, flags and top features — more than PyOD gives).

Usage: python -m bench.score_speed [--rows 1000000] [--repeats 3] [--no-pyod]
       python -m bench.score_speed --rows 100000 --repeats 1 --no-pyod   (a quick look)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `anomaly`
from bench._common import best, interleaved, median, print_table, timed  # noqa: E402

COLUMNS = 32
PYOD_ROWS = 100_000


def make_csv(path: Path, rows: int, seed: int = 0, keep: int | None = None,
             decimals: int | None = 4, with_id: bool = False) -> np.ndarray:
    """Correlated float columns x0… (8 latent factors), rounded to `decimals` (None: full
    precision), after an integer `id` column when `with_id`; returns the first `keep` rows
    (default all) of the float columns as float32."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(8, COLUMNS))
    keep = rows if keep is None else min(keep, rows)
    out = np.empty((keep, COLUMNS), dtype=np.float32)
    names = [f"x{j}" for j in range(COLUMNS)]
    fields = [(name, pa.float64()) for name in names]
    schema = pa.schema([("id", pa.int64()), *fields] if with_id else fields)
    step = 200_000
    with pacsv.CSVWriter(path, schema) as writer:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            block = rng.normal(size=(n, 8)) @ mixing + 0.1 * rng.normal(size=(n, COLUMNS))
            if decimals is not None:
                block = np.round(block, decimals)
            if start < keep:
                out[start:min(start + n, keep)] = block[:keep - start]
            columns = {name: block[:, j] for j, name in enumerate(names)}
            if with_id:
                columns = {"id": np.arange(start, start + n), **columns}
            writer.write_table(pa.table(columns, schema=schema))
    return out


def process_seconds(command: list[str]) -> float:
    """Wall-clock seconds of one child process (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pyod", action="store_true")
    args = parser.parse_args()

    import pandas as pd

    from anomaly.core.detector import Detector

    folder = Path(tempfile.mkdtemp(prefix="anomaly-bench-"))
    try:
        files = {"full precision": folder / "full.csv", "4 decimals": folder / "dec4.csv"}
        t = time.perf_counter()
        data = make_csv(files["full precision"], args.rows, keep=args.train_rows + PYOD_ROWS,
                        decimals=None, with_id=True)
        make_csv(files["4 decimals"], args.rows, keep=0, decimals=4, with_id=True)
        print(f"data: {args.rows:,} rows × (id + {COLUMNS} floats): "
              + ", ".join(f"{label} {path.stat().st_size / 1e6:,.0f} MB"
                          for label, path in files.items())
              + f" ({time.perf_counter() - t:.0f}s to make)", flush=True)
        train = pd.read_csv(files["full precision"], nrows=args.train_rows)
        t = time.perf_counter()
        detector = Detector(max_epochs=5, patience=0, batch_size=256, id_col="id").fit(train)
        detector.save(folder / "models", "bench")
        print(f"trained on {args.train_rows:,} rows in {time.perf_counter() - t:.1f}s",
              flush=True)

        runs: dict[str, Any] = {}
        for label, src in files.items():
            out = folder / f"{src.stem}.out.csv"
            runs[f"floor {label}"] = lambda src=src, out=out: process_seconds(
                [sys.executable, str(ROOT / "bench" / "io_floor.py"), str(src), str(out)])
            runs[f"anomaly {label}"] = lambda src=src, out=out: process_seconds(
                [sys.executable, "-m", "anomaly.cli", "score", "bench", str(src), "-o",
                 str(out), "--show", "0", "--workspace", str(folder)])
        seconds = interleaved(runs, args.repeats)
        table = []
        for label, src in files.items():
            floors, ours = seconds[f"floor {label}"], seconds[f"anomaly {label}"]
            rounds = [f / o for f, o in zip(floors, ours, strict=True)]
            table.append((label, f"{src.stat().st_size / 1e6:,.0f} MB", f"{best(floors):.2f}",
                          f"{best(ours):.2f}", f"{best(floors) / best(ours):.2f}",
                          f"{median(rounds):.2f}"))
        print(f"\nwhole processes, {args.rows:,} rows CSV -> CSV ({args.repeats} rounds; "
              "anomaly / floor = our speed as a share of the floor's, target >= 0.8):")
        print_table(["file", "size", "floor s (best)", "anomaly s (best)", "best / best",
                     "median of the rounds' ratios"], table)
        if not args.no_pyod:
            pyod_table(data[args.train_rows:], data[:args.train_rows], detector)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pyod_table(sample: np.ndarray, train: np.ndarray, detector: Any) -> None:
    """In memory, no I/O: PyOD's `decision_function` vs our `Detector.score_frame`."""
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        print("PyOD not installed (pip install 'anomaly[bench]'): skipped")
        return
    import pandas as pd

    model = AutoEncoder(epoch_num=2, verbose=0, batch_size=256)
    model.fit(train)
    frame = pd.DataFrame(sample.astype(np.float64), columns=[f"x{j}" for j in range(COLUMNS)])
    frame.insert(0, "id", np.arange(len(frame)))
    pyod = best([timed(lambda: model.decision_function(sample)) for _ in range(3)])
    ours = best([timed(lambda: detector.score_frame(frame)) for _ in range(3)])
    print(f"\nin memory, {len(sample):,} rows, no I/O (best of 3):")
    print_table(["tool", "rows/s", "ratio to PyOD"],
                [("PyOD AutoEncoder.decision_function", len(sample) / pyod, 1.0),
                 ("anomaly Detector.score_frame", len(sample) / ours, pyod / ours)])


if __name__ == "__main__":
    main()
