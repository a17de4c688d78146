"""Peak memory of `anomaly score` on a ~100 MB and a ~2 GB CSV (the same model and columns).

Generates both files in a temporary folder (deleted afterwards; no /work/shared data is
needed), trains a small model, then runs the real CLI (`python -m anomaly.cli score`) on each
in a child process and reads that child's peak RSS from `os.wait4`. Streaming scoring should
keep the peak flat: targets are < 1 GB for the 2 GB file and ≤ 1.5× the 100 MB file's peak.

Usage: python bench/score_memory.py [--small-mb 100] [--large-mb 2000]
The large run takes a few minutes on a small machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `anomaly` (and `bench`)
from bench._common import wait_peak_rss_kb  # noqa: E402

BYTES_PER_ROW = 245  # what make_csv writes per row, about


def peak_rss_of_score(workspace: Path, src: Path, out: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one `anomaly score` child process.

    The peak is the child's VmHWM from /proc, polled until it exits: unlike `ru_maxrss`, it
    starts afresh at exec and does not inherit the parent's peak.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "anomaly.cli", "score", "bench", str(src),
                             "-o", str(out), "--show", "0", "--workspace", str(workspace)],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    peak_kb = wait_peak_rss_kb(proc)
    if proc.returncode != 0:
        raise SystemExit(f"anomaly score failed on {src} (exit {proc.returncode})")
    return peak_kb / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-mb", type=float, default=100)
    parser.add_argument("--large-mb", type=float, default=2000)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from anomaly.core.detector import Detector
    from bench.score_speed import COLUMNS, make_csv

    folder = Path(tempfile.mkdtemp(prefix="anomaly-mem-"))
    try:
        files = {}
        for label, mb in (("small", args.small_mb), ("large", args.large_mb)):
            path = folder / f"{label}.csv"
            rows = int(mb * 1e6 / BYTES_PER_ROW)
            t = time.perf_counter()
            data = make_csv(path, rows, seed=1, keep=20_000)
            if label == "small":
                train = pd.DataFrame(data[:20_000].astype(np.float64),
                                     columns=[f"x{j}" for j in range(COLUMNS)])
            del data
            files[label] = path
            print(f"{label}: {rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB "
                  f"({time.perf_counter() - t:.0f}s to make)", flush=True)
        Detector(max_epochs=3, patience=0).fit(train).save(folder / "models", "bench")
        peaks = {}
        for label, path in files.items():
            peak, seconds = peak_rss_of_score(folder, path, folder / f"{label}.scored.csv")
            peaks[label] = peak
            print(f"{label}: peak RSS {peak:,.0f} MB, {seconds:.0f}s", flush=True)
            (folder / f"{label}.scored.csv").unlink(missing_ok=True)
        ratio = peaks["large"] / peaks["small"]
        print(f"peak RSS large / small: {ratio:.2f}  (target <= 1.5); large under 1 GB: "
              f"{'yes' if peaks['large'] < 1024 else 'NO'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
