"""HDFS-like log files for tests: block sessions of four templates, some with an odd line."""

from __future__ import annotations

import gzip
import random
from datetime import datetime, timedelta
from pathlib import Path

NEW_TEMPLATE = "ERROR dfs.DataNode: Disk failure on volume /data{n} while writing blk_{blk}"


def session_lines(rng: random.Random, blk: int, extra: str | None = None) -> list[str]:
    """One HDFS-like block session: 4-6 lines of four templates (+ an optional odd line)."""
    ip = lambda: f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 250)}"  # noqa: E731
    lines = [f"INFO dfs.DataNode: Receiving block blk_{blk} src: /{ip()}:{rng.randint(1024, 65000)}"
             f" dest: /{ip()}:50010",
             f"INFO dfs.FSNamesystem: allocateBlock /user/root/part-{rng.randint(0, 999):05d} "
             f"blk_{blk}"]
    lines += [f"INFO dfs.DataNode: PacketResponder {rng.randint(0, 2)} for block blk_{blk} "
              "terminating" for _ in range(rng.randint(1, 3))]
    if extra:
        lines.append(extra.format(n=rng.randint(1, 9), blk=blk))
    lines.append(f"INFO dfs.DataNode: Received block blk_{blk} of size {rng.randint(1000, 9999)}"
                 f" from /{ip()}")
    return lines


def make_log(path: Path, n: int, seed: int, odd: dict[int, str] | None = None,
             start: datetime = datetime(2024, 1, 1), first_key: int | None = None) -> list[str]:
    """Write n sessions (timestamped, 7 s apart, keys blk_<first_key + i>, by default
    blk_<seed·100,000 + i>); session i gets the odd line `odd[i]`. Returns the keys."""
    rng, out, keys = random.Random(seed), [], []
    for i in range(n):
        blk = (seed * 100_000 if first_key is None else first_key) + i
        keys.append(f"blk_{blk}")
        stamp = (start + timedelta(seconds=7 * i)).strftime("%Y-%m-%d %H:%M:%S")
        out += [f"{stamp} {line}" for line in session_lines(rng, blk, (odd or {}).get(i))]
    data = ("\n".join(out) + "\n").encode()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return keys
