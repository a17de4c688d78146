"""Shared helpers for the benchmarks in `bench/`: data location, quiet logs, timing, tables.

The benchmarks run on a shared, noisy machine, so they compare tools measured in the same run
(interleaved repeats) and print ratios; absolute numbers are context, never a pass/fail.
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_NOISY_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric")


def shared_data(*parts: str) -> Path:
    """`<repo>/../shared/data/<parts...>`: the public benchmark data next to a checkout."""
    return REPO.parent.joinpath("shared", "data", *parts)


def require_shared(*parts: str) -> Path:
    """The shared data folder, or exit 0 with a plain message when a clone has none."""
    folder = shared_data(*parts)
    if not folder.exists():
        print(f"benchmark data not found at {folder} — nothing to benchmark "
              "(it needs the ../shared/data folder next to the repository)")
        sys.exit(0)
    return folder


def quiet() -> None:
    """Silence Lightning's advice lines and warnings so the tables stay readable."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each run once per round, `repeats` rounds, so machine noise hits all of them alike.

    Each callable returns the seconds to count (it may exclude its own setup).
    """
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_no in range(repeats):
        for name, run in runs.items():
            took = run()
            seconds[name].append(took)
            print(f"  round {round_no + 1}/{repeats}  {name:<12} {took:7.2f} s", flush=True)
    return seconds


def best(values: Sequence[float]) -> float:
    """The fastest of repeated timings (noise only ever adds time)."""
    return min(values)


def median(values: Sequence[float]) -> float:
    """The median of repeated timings."""
    return statistics.median(values)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned text table (floats to 3 significant decimals)."""
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in text:
        print("  ".join(c.rjust(w) if i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def wait_peak_rss_kb(proc: subprocess.Popen[Any]) -> int:
    """Wait for `proc`, polling its peak resident memory (VmHWM, kB) until it exits."""
    status, peak_kb = Path(f"/proc/{proc.pid}/status"), 0
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return peak_kb
