"""Fixed cost per command: each `anomaly` command as a whole process, next to `import torch`.

Builds a workspace in a temporary folder (deleted afterwards; no /work/shared data is needed):
a small model trained on 2,000 rows of the score benchmark's data (an `id` column and 32 floats
at full precision), a 1,000-row file to score, and a run ledger from one `anomaly batch` run.
Then, round by round (interleaved, so machine noise hits all alike), it times as processes:

- baseline: `python -c "import torch"`;
- the quick commands `anomaly --help`, `models`, `info`, `runs` and `threshold` with a method
  that needs no data (`--dry-run`): target ≤ 0.5 s each, and no torch import;
- `anomaly score` of the 1,000-row file: target ≤ 1.5 × (the baseline + 1 s).

Prints each command's seconds (best of the rounds) next to the baseline.
Usage: python -m bench.commands [--repeats 3]
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
sys.path.insert(0, str(ROOT))  # this checkout's `anomaly`
from bench._common import best, interleaved, print_table  # noqa: E402


def seconds(command: list[str]) -> float:
    """Wall-clock seconds of one child process (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def build(ws: Path) -> Path:
    """A workspace with model 'bench', a ledger of one batch run; returns the file to score."""
    import pandas as pd

    from anomaly.core.detector import Detector
    from bench.score_speed import make_csv

    data = ws / "data.csv"
    make_csv(data, 3_000, keep=0, decimals=None, with_id=True)
    frame = pd.read_csv(data)
    Detector(max_epochs=3, patience=0, id_col="id").fit(frame.iloc[:2000]).save(
        ws / "models", "bench")
    small = ws / "small.csv"
    frame.iloc[2000:].to_csv(small, index=False)
    inbox = ws / "inbox"
    inbox.mkdir()
    shutil.copy(small, inbox / "small.csv")
    seconds([sys.executable, "-m", "anomaly.cli", "batch", "bench", "--inbox", str(inbox),
             "--outbox", str(ws / "outbox"), "--workspace", str(ws)])
    return small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anomaly-commands-") as tmp:
        ws = Path(tmp)
        small = build(ws)
        cli = [sys.executable, "-m", "anomaly.cli"]
        at = ["--workspace", str(ws)]
        commands = {
            "import torch": [sys.executable, "-c", "import torch"],
            "--help": [*cli, "--help"],
            "models": [*cli, "models", *at],
            "info": [*cli, "info", "bench", *at],
            "runs": [*cli, "runs", *at],
            "threshold": [*cli, "threshold", "bench", "--method", "quantile", "--q", "0.99",
                          "--dry-run", *at],
            "score 1,000 rows": [*cli, "score", "bench", str(small), "-o",
                                 str(ws / "out.csv"), *at],
        }
        took = interleaved({name: lambda c=c: seconds(c) for name, c in commands.items()},
                           args.repeats)
    torch = best(took["import torch"])
    rows = []
    for name in commands:
        value = best(took[name])
        if name == "import torch":
            rows.append((name, f"{value:.2f}", "baseline", ""))
        elif name.startswith("score"):
            limit = 1.5 * (torch + 1)
            rows.append((name, f"{value:.2f}", f"<= 1.5 x (torch + 1 s) = {limit:.2f}",
                         f"{value / (torch + 1):.2f} x (torch + 1 s)"))
        else:
            rows.append((name, f"{value:.2f}", "<= 0.50", f"{value / torch:.2f} x torch"))
    print(f"\nwhole processes, best of {args.repeats}:")
    print_table(["command", "seconds", "target", "next to the baseline"], rows)


if __name__ == "__main__":
    main()
