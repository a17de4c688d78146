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

import contextlib  # noqa: E402
import logging  # noqa: E402

import altair  # noqa: E402, F401  (warm-up: the pages' heavy imports)
from streamlit.web.cli import main  # noqa: E402

import anomaly.core.detector  # noqa: E402
import anomaly.kinds.tabular.kind  # noqa: E402, F401


def warm_up() -> None:
    """Import what the pages import (2-3 CPU-s on a cold start, measured) and load what the
    first page shows by default (`dashboards.common.prefetch`): the first visit then only draws.
    Streamlit's cache decorators warn that no runtime exists yet while checking their settings
    at import (harmless: the caches are made at first call)."""
    cache_log = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    level = cache_log.level
    cache_log.setLevel(logging.ERROR)
    try:
        import pyarrow.parquet  # noqa: F401  (the scored files' Parquet copies)

        import anomaly.analysis.explained  # noqa: F401
        import dashboards.charts
        import dashboards.review  # noqa: F401
        from anomaly.errors import AnomalyError
        from dashboards import common

        with contextlib.suppress(AnomalyError, OSError, ValueError):
            common.prefetch(common.workspace())  # else the page shows the error when it gets there
    finally:
        cache_log.setLevel(level)


def host_name(header: str) -> str:
    """The host of a `Host` header, without the port: ``[::1]:8501`` → ``::1``."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class HostGuard:
    """ASGI middleware: 403 to requests (and refused websockets) whose `Host` is not allowed.

    A page on another site that re-points its own name at 127.0.0.1 (DNS rebinding) reaches
    the server with that name in `Host`; refusing it keeps the dashboard's data on this machine.
    """

    def __init__(self, app: Any, names: frozenset[str]) -> None:
        self.app, self.names = app, names

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            if host_name(host).lower() not in self.names:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body",
                            "body": b"host not allowed (anomaly dashboard)"})
                return
        await self.app(scope, receive, send)


def guard_hosts(allowed: str) -> None:
    """Put `HostGuard` first in Streamlit's middleware (comma-separated names; '*' = any)."""
    names = frozenset(n.strip().lower() for n in allowed.split(",") if n.strip())
    if not names or "*" in names:
        return
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    original = starlette_app.create_streamlit_middleware

    def middleware() -> list[Middleware]:
        return [Middleware(HostGuard, names=names), *original()]

    starlette_app.create_streamlit_middleware = middleware


if __name__ == "__main__":
    warm_up()
    guard_hosts(os.environ.get("ANOMALY_ALLOWED_HOSTS", ""))
    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(main())
