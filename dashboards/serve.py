"""Start Streamlit with the heavy imports (torch, the detector) done before the server opens.

`anomaly dashboard` runs ``python dashboards/serve.py run dashboards/app.py [streamlit flags]``:
the first visitor then does not wait for torch to import (seconds on a small machine).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import altair  # noqa: E402, F401  (warm-up: the pages' heavy imports)
from streamlit.web.cli import main  # noqa: E402

import anomaly.core.detector  # noqa: E402
import anomaly.kinds.tabular.kind  # noqa: E402, F401


def host_name(header: str) -> str:
    """The host of a `Host` header, without the port: ``[::1]:8501`` → ``::1``."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def guard_hosts(allowed: str) -> None:
    """Answer 403 to requests whose `Host` is not one of `allowed` (comma-separated; '*' = any).

    A page on another site that re-points its own name at 127.0.0.1 (DNS rebinding) reaches the
    server with that name in `Host`; refusing it keeps the dashboard's data on this machine.
    Checked in Tornado's routing, so every handler (pages, API, websocket) is covered.
    """
    import tornado.web

    names = {n.strip().lower() for n in allowed.split(",") if n.strip()}
    if not names or "*" in names:
        return
    find = tornado.web.Application.find_handler

    def find_handler(self: tornado.web.Application, request: Any, **kwargs: Any) -> Any:
        if host_name(request.host or "").lower() not in names:
            return self.get_handler_delegate(request, tornado.web.ErrorHandler,
                                             {"status_code": 403})
        return find(self, request, **kwargs)

    tornado.web.Application.find_handler = find_handler  # type: ignore[method-assign]


if __name__ == "__main__":
    guard_hosts(os.environ.get("ANOMALY_ALLOWED_HOSTS", ""))
    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(main())
