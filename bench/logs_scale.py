"""Logs at scale: peak memory and lines/s of whole `anomaly score` processes on big HDFS logs.

Builds raw HDFS logs ("date time pid level component content") of about 16 MB, 190 MB and
(with ``--big``) 2 GB from the 24,320 real lines of
``../shared/data/hdfs/hdfs_raw_lines_dev_subset.csv``: the lines are repeated in time order,
each copy shifted past the one before in time and with its block ids made new (``blk_-123`` →
``blk_-7123`` in copy 7), so every copy is a fresh set of sessions. A model is trained on the
normal blocks of copy 0 (``--session-regex 'blk_-?\\d+'``); the test logs start at copy 1.

Per log, each in its own child process, measured in the same run:
- ``anomaly score`` (the real CLI): peak RSS (the child's VmHWM), peak PSS of the child and
  its reading processes together (logs of 48 MB and more are read by one forked process per
  core: `anomaly.kinds.logs.ranges`), lines/s by the wall clock and per CPU second;
- the same with ``ANOMALY_LOG_PROCESSES=1`` (read in the one process);
- the floor: read the file in blocks, split lines, one regex search per line (the session key);
- Drain3 alone: ``TemplateMiner.add_log_message`` per line (skipped on the 2 GB log: hours).

Usage: python -m bench.logs_scale [--big] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench._common import REPO, print_table, require_shared, wait_peak_rss_kb

REGEX = r"blk_-?\d+"
SIZES_MB = {"16 MB": 16, "190 MB": 190}
BIG_MB = 2000

FLOOR = r"""
import re, sys
regex, hits, lines = re.compile(sys.argv[2]), 0, 0
with open(sys.argv[1], "rb") as handle:
    rest = b""
    while block := handle.read(1 << 22):
        block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        for line in block[:cut].decode("utf-8", "replace").splitlines():
            lines += 1
            hits += regex.search(line) is not None
print(lines, hits)
"""

DRAIN3 = r"""
import sys
from drain3.template_miner import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
from drain3.masking import MaskingInstruction
from anomaly.kinds.logs.features import DEFAULT_MASKS
config = TemplateMinerConfig()
config.masking_instructions = [MaskingInstruction(p, n) for p, n in DEFAULT_MASKS]
miner = TemplateMiner(config=config)
with open(sys.argv[1], encoding="utf-8", errors="replace") as handle:
    for line in handle:
        miner.add_log_message(line.rstrip("\n"))
print(len(miner.drain.clusters))
"""


def base_lines(data: Path) -> tuple[list[tuple[float, str]], set[str]]:
    """(epoch second, "pid level component content") of every subset line; normal block ids."""
    import pandas as pd

    lines = pd.read_csv(data / "hdfs_raw_lines_dev_subset.csv", dtype=str,
                        keep_default_na=False)
    labels = pd.read_csv(data / "hdfs_blocks_dev.csv", dtype=str).set_index("block_id")["label"]
    stamps = pd.to_datetime(lines["date"] + lines["time"], format="%y%m%d%H%M%S", utc=True)
    epochs = ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).tolist()
    rest = (lines["pid"] + " " + lines["level"] + " " + lines["component"] + " "
            + lines["content"]).tolist()
    normal = set(labels.index[labels == "0"]) & set(lines["block_id"])
    return list(zip(epochs, rest, strict=True)), normal


def copy_text(base: list[tuple[float, str]], copy: int, span: float) -> str:
    """Copy `copy` of the lines: times shifted by copy × span, block ids made new."""
    shift, cache = copy * span, {}
    out = []
    for epoch, rest in base:
        stamp = cache.get(epoch)
        if stamp is None:
            stamp = cache[epoch] = datetime.fromtimestamp(epoch + shift, UTC).strftime(
                "%y%m%d %H%M%S")
        out.append(f"{stamp} {rest}")
    text = "\n".join(out) + "\n"
    return text if copy == 0 else re.sub(r"blk_(-?)", rf"blk_\g<1>{copy}", text)


def build_logs(data: Path, folder: Path, sizes: dict[str, float]) -> tuple[Path, dict[str, Path]]:
    """The training log (normal blocks of copy 0) and one test log per size (copies 1, 2, …)."""
    base, normal = base_lines(data)
    span = base[-1][0] - base[0][0] + 60
    train = folder / "train.log"
    keyed = re.compile(REGEX)
    train.write_text("".join(line + "\n" for line in copy_text(base, 0, span).splitlines()
                             if (m := keyed.search(line)) and m.group(0) in normal))
    logs = {}
    for label, mb in sizes.items():
        path, copy, size = folder / f"test_{int(mb)}mb.log", 1, 0
        with path.open("w", encoding="utf-8") as handle:
            while size < mb * 1e6:
                text = copy_text(base, copy, span)
                if size + len(text) > mb * 1e6:  # cut the last copy at a line end
                    handle.write(text[:text.rfind("\n", 0, int(mb * 1e6 - size)) + 1])
                    break
                handle.write(text)
                size, copy = size + len(text), copy + 1
        logs[label] = path
    return train, logs


def run_child(args: list[str], env: dict[str, str] | None = None
              ) -> tuple[float, float, float, float]:
    """(peak RSS MB, wall seconds, CPU seconds, peak PSS MB of the process tree) of one child.

    RSS: the child's VmHWM; PSS: the child and its own children (forked readers) summed, shared
    pages counted once. CPU seconds (user + system of the child and every process it waited
    for, from the kernel's accounting) are shown beside wall seconds: on a shared machine the
    wall clock also counts other people's work.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    tree = TreePss(proc.pid)
    tree.start()
    peak_kb = wait_peak_rss_kb(proc)
    tree.stop.set()
    tree.join()
    seconds = time.perf_counter() - start
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}… failed (exit {proc.returncode}):\n{err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return peak_kb / 1024, seconds, cpu, tree.peak_kb / 1024


class TreePss(threading.Thread):
    """Polls the summed PSS (kB) of a process and its children until `stop` is set."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in _tree(self.pid)))


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            text = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        todo += [int(child) for child in text.split()]
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


Measure = tuple[float, float, float, float]  # peak RSS MB, wall s, CPU s, peak tree PSS MB


@dataclass
class Run:
    """One log: its lines and the `Measure` of each child."""

    label: str
    lines: int
    ours: Measure  # as shipped: big logs read by forked processes
    single: Measure  # ANOMALY_LOG_PROCESSES=1: read in the one process
    floor: Measure
    drain: Measure | None

    def speeds(self, which: Measure | None) -> tuple[float, float]:
        """(lines per wall second, lines per CPU second)."""
        return (self.lines / which[1], self.lines / which[2]) if which else (np.nan, np.nan)


def report(runs: list[Run], load: tuple[str, str]) -> None:
    """The table and the ratios (each against the floor and Drain3 of the same log)."""
    rows = []
    for r in runs:
        for name, m in (("anomaly", r.ours), ("anomaly, 1 process", r.single),
                        ("floor", r.floor), ("Drain3", r.drain)):
            if m is not None:
                rows.append([r.label, r.lines, name, m[0], m[3], f"{m[1]:.1f}s", f"{m[2]:.1f}s",
                             *r.speeds(m)])
    print("\nwhole processes on raw HDFS logs; anomaly = `anomaly score` as shipped (logs of "
          "48 MB and more read by one forked process per core), 1 process = the same with "
          "ANOMALY_LOG_PROCESSES=1; floor = read + split + one regex search per line; Drain3 = "
          "TemplateMiner alone; PSS = the process and its readers, shared pages once; the "
          f"machine is shared: load average {load[0]} at the start, {load[1]} at the end")
    print_table(["log", "lines", "process", "peak RSS MB", "peak PSS MB", "wall", "CPU",
                 "lines/s", "lines/CPU-s"], rows)
    small, large = runs[0].ours[0], runs[1].ours[0]
    print(f"\npeak RSS 190 MB / 16 MB: {large / small:.2f} (target ≤ 1.5); 190 MB under "
          f"800 MB: {'yes' if large < 800 else 'NO'}")
    for r in runs:
        ours, single, floor = r.speeds(r.ours), r.speeds(r.single), r.speeds(r.floor)
        line = (f"{r.label}: anomaly at {ours[0] / floor[0]:.2f}× the floor's lines/s "
                f"({ours[1] / floor[1]:.2f}× per CPU-s), {ours[0] / single[0]:.2f}× the one "
                f"process's lines/s ({ours[1] / single[1]:.2f}× per CPU-s)")
        if r.drain:
            drain = r.speeds(r.drain)
            line += f", {ours[0] / drain[0]:.1f}× Drain3's ({ours[1] / drain[1]:.1f}× per CPU-s)"
        print(line)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg()) + f" ({os.cpu_count()} cores)"


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 22), b""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the 2 GB log (minutes)")
    parser.add_argument("--no-drain3", action="store_true", help="skip the Drain3 runs")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the logs here and keep them")
    args = parser.parse_args(argv)
    data = require_shared("hdfs")
    sizes = dict(SIZES_MB) | ({"2 GB": BIG_MB} if args.big else {})
    folder = args.keep or Path(tempfile.mkdtemp(prefix="anomaly-logs-"))
    folder.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    try:
        load_before = _load()
        started = time.perf_counter()
        train, logs = build_logs(data, folder, sizes)
        print(f"built the logs in {time.perf_counter() - started:.0f}s", flush=True)
        ws = folder / "ws"
        run_child([py, "-m", "anomaly.cli", "train", str(train), "--kind", "logs",
                   "--session-regex", REGEX, "--name", "hdfs", "--epochs", str(args.epochs),
                   "--no-progress", "--workspace", str(ws)])
        runs = []
        for label, path in logs.items():
            lines = count_lines(path)
            score = [py, "-m", "anomaly.cli", "score", "hdfs", str(path), "-o",
                     str(folder / "scored.csv"), "--show", "0", "--workspace", str(ws)]
            ours = run_child(score)
            single = run_child(score, {"ANOMALY_LOG_PROCESSES": "1"})
            floor = run_child([py, "-c", FLOOR, str(path), REGEX])
            drain = None if args.no_drain3 or label == "2 GB" else run_child(
                [py, "-c", DRAIN3, str(path)])
            runs.append(Run(label, lines, ours, single, floor, drain))
            print(f"{label}: done", flush=True)
        report(runs, (load_before, _load()))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
