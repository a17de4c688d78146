"""Time-series scoring speed against tabular scoring of the same rows, as whole processes.

Writes a synthetic N-row CSV (default 1,000,000) with a time column and 8 sensors at full float
precision in a temporary folder, trains a time-series model (`--kind timeseries --time-col t`,
the app's defaults) and a tabular model (`--id-col t`) on its first 5,000 rows, then times
`anomaly score MODEL data.csv -o out.csv` for each as a separate process, interleaved, and
prints rows/s and the ratio time series / tabular (target ≥ 1/3).

Usage: python -m bench.ts_speed [--rows 1000000] [--repeats 2]
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data, train = folder / "data.csv", folder / "train.csv"
        make_csv(data, args.rows)
        pd.read_csv(data, nrows=5000).to_csv(train, index=False)
        cli("train", str(train), "--kind", "timeseries", "--time-col", "t", "--name", "ts",
            "--epochs", "3", workspace=folder)
        cli("train", str(train), "--id-col", "t", "--name", "tab", "--epochs", "3",
            workspace=folder)
        runs = {name: (lambda name=name: cli("score", name, str(data), "-o",
                                             str(folder / f"{name}.csv"), "--show", "0",
                                             workspace=folder))
                for name in ("tab", "ts")}
        seconds = interleaved(runs, args.repeats)
    tab, ts = best(seconds["tab"]), best(seconds["ts"])
    print(f"`anomaly score` on {args.rows:,} rows × {SENSORS} sensors (whole processes, best of "
          f"{args.repeats}): tabular {args.rows / tab:,.0f} rows/s, time series "
          f"{args.rows / ts:,.0f} rows/s — time series / tabular = {tab / ts:.2f} (target ≥ 0.33)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
