"""`--every`: a foreground loop that runs a job every N minutes and stops cleanly on a signal.

SIGTERM or SIGINT sets a flag: the job in progress finishes the file it is on (it checks
`Stopper.is_set` between files) and the loop ends instead of waiting for the next tick.
cron or a systemd timer can run the same command without `--every` (README).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class Stopper:
    """Set by SIGTERM/SIGINT while `handle_signals` is active; the loop and jobs poll it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    @contextmanager
    def handle_signals(self) -> Iterator[Stopper]:
        """Install the handlers for the block (main thread only), restoring the old ones."""
        old = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def run_every(job: Callable[[], None], seconds: float, stopper: Stopper,
              clock: Callable[[], float] = time.monotonic) -> int:
    """Run `job` now and then every `seconds` (start to start) until stopped; returns runs."""
    runs = 0
    while not stopper.is_set():
        started = clock()
        job()
        runs += 1
        wait = max(0.0, seconds - (clock() - started))
        stopper.event.wait(wait)
    return runs
