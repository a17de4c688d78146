"""Time-series scoring speed against tabular scoring of the same rows, as whole processes.

Writes a synthetic N-row CSV (default 1,000,000) with a time column and 8 sensors at full float
precision in a temporary folder and trains on its first 5,000 rows:

* ts — a time-series model, the app's defaults (`--kind timeseries --time-col t`: a window
  every `score_stride` rows when scoring);
* tab-recon — a tabular model scoring by reconstruction error alone (`neighbours=0`, through
  the Python API: the CLI has no option for it), the fast recipe the ratio target (≥ 1/3) was
  set against;
* tab — a tabular model with the app's defaults (`--id-col t`: reconstruction plus the
  neighbour distance, slower);
* with `--every-window`, also ts-1 — the time-series model scoring every window (stride 1,
  as bundles made before the stride score).

Then it times `anomaly score MODEL data.csv -o out.csv` for each as a separate process,
interleaved, and prints rows/s and the ratios time series / tabular. The target is judged on
ts / tab-recon.

Usage: python -m bench.ts_speed [--rows 1000000] [--repeats 2] [--every-window]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from anomaly import Detector
from bench._common import best, interleaved

SENSORS = 8


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Slow sines plus noise, one row a second, floats at full precision."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    values = np.sin(t[:, None] / (50.0 + 7 * np.arange(SENSORS)) + np.arange(SENSORS))
    values += 0.05 * rng.normal(size=(rows, SENSORS))
    frame = pd.DataFrame(values, columns=[f"s{i}" for i in range(SENSORS)])
    frame.insert(0, "t", t)
    frame.to_csv(path, index=False)


def cli(*args: str, workspace: Path) -> float:
    """Seconds one `anomaly` process takes (fails loudly)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "anomaly.cli", *args, "--workspace", str(workspace)],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ})
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--every-window", action="store_true",
                        help="also time the time-series model with score stride 1")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data, train = folder / "data.csv", folder / "train.csv"
        make_csv(data, args.rows)
        pd.read_csv(data, nrows=5000).to_csv(train, index=False)
        common = ("--epochs", "3", "--no-progress")
        cli("train", str(train), "--kind", "timeseries", "--time-col", "t", "--name", "ts",
            *common, workspace=folder)
        if args.every_window:
            cli("train", str(train), "--kind", "timeseries", "--time-col", "t", "--name",
                "ts-1", "--score-stride", "1", *common, workspace=folder)
        cli("train", str(train), "--id-col", "t", "--name", "tab", *common, workspace=folder)
        Detector(id_col="t", max_epochs=3, neighbours=0).fit(pd.read_csv(train)).save(
            folder / "models", "tab-recon")
        names = ["tab-recon", "tab", "ts", *(["ts-1"] if args.every_window else [])]
        runs = {name: (lambda name=name: cli("score", name, str(data), "-o",
                                             str(folder / f"{name}.csv"), "--show", "0",
                                             workspace=folder))
                for name in names}
        seconds = {name: best(values) for name, values in
                   interleaved(runs, args.repeats).items()}
    rate = {name: args.rows / value for name, value in seconds.items()}
    print(f"`anomaly score` on {args.rows:,} rows × {SENSORS} sensors (whole processes, best of "
          f"{args.repeats}), rows/s: " + ", ".join(f"{n} {r:,.0f}" for n, r in rate.items()))
    for ts in names[2:]:
        print(f"{ts} / tab-recon = {rate[ts] / rate['tab-recon']:.2f} (target ≥ 0.33; "
              f"reconstruction-only tabular), {ts} / tab = {rate[ts] / rate['tab']:.2f} "
              "(default tabular, neighbour score)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
