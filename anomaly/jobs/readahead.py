"""Reading ahead: a file's chunks produced in a background thread while the current one is
scored, and a tabular file's first chunks read while the model is still loading."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from anomaly.bundle import BUNDLE_FILE
from anomaly.errors import AnomalyError
from anomaly.io import CHUNK_ROWS, CSV_BLOCK_BYTES

EARLY_BYTES = 1 << 27  # `early_chunks`: at most ~128 MB of CSV read ahead while the model loads
T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int = 1, early: int = 0) -> Iterator[T]:
    """Produce `items` in a background thread, `depth` ahead, so that reading the next chunk
    (pyarrow parses without holding the GIL) overlaps with scoring this one. The thread starts
    at the first item asked for — or at once with `early` > 0: then, until the first item is
    taken, it may run `early` items ahead (to read while the model loads).

    Memory grows by at most max(depth, early) chunks; errors are re-raised in the consumer, in
    order.
    """
    if not early:
        def lazy() -> Iterator[T]:
            yield from prefetch(items, depth, early=depth)

        return lazy()
    box: queue.Queue[tuple[str, Any]] = queue.Queue()
    room = threading.Condition()
    limit = [max(depth, early)]
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                with room:
                    while not stop.is_set() and box.qsize() >= limit[0]:
                        room.wait(0.1)
                if stop.is_set():
                    return
                box.put(("item", item))
            box.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            box.put(("error", exc))

    worker = threading.Thread(target=produce, name="anomaly-prefetch", daemon=True)
    worker.start()

    def consume() -> Iterator[T]:
        try:
            while True:
                kind, value = box.get()
                with room:
                    limit[0] = depth
                    room.notify()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()
            with room:
                room.notify()
            worker.join()

    return consume()


def early_chunks(bundle: Path, path: Path, chunk_rows: int = CHUNK_ROWS,
                 block_bytes: int = CSV_BLOCK_BYTES) -> Iterator[pd.DataFrame] | None:
    """Start reading `path` for the tabular model in bundle folder `bundle` before the model is
    loaded (importing torch and building the network take seconds; pyarrow parses meanwhile, up
    to `EARLY_BYTES` of the file). None when the bundle is not a readable tabular one: then the
    file is read as usual, after loading reports what is wrong."""
    import json

    try:
        meta = json.loads((bundle / BUNDLE_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != "tabular" or not path.is_file():
            return None
        from anomaly.config import settings_from_json
        from anomaly.kinds.tabular.features import TabularFeatures
        from anomaly.kinds.tabular.reading import read_rows

        features = TabularFeatures.from_json(meta["features"])
        settings = settings_from_json(meta["settings"])
    except (OSError, ValueError, KeyError, TypeError, AnomalyError):
        return None
    return prefetch(read_rows(features, settings, path, chunk_rows, block_bytes),
                    early=max(1, EARLY_BYTES // block_bytes))


def early_start(model: str | Path, models_dir: Path, path: Path
                ) -> Iterator[pd.DataFrame] | None:
    """`early_chunks` for a model named as on the command line (None when it does not resolve:
    loading it reports why)."""
    from anomaly.bundle import resolve

    try:
        bundle = resolve(model, models_dir)
    except AnomalyError:
        return None
    return early_chunks(bundle, path)
