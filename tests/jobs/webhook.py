"""A real webhook receiver on 127.0.0.1 for the alert tests: records bodies, can fail first."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """What the server got: every request's JSON body (failed ones too) and its answer."""

    url: str
    fail_first: int = 0  # answer 503 to this many requests first
    status: int = 503
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered 200."""
        return [b for b, a in zip(self.requests, self.answers, strict=True) if a == 200]


@contextmanager
def webhook(fail_first: int = 0, status: int = 503) -> Iterator[Receiver]:
    """Serve a webhook on a free port for the block."""
    receiver = Receiver("", fail_first, status)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                answer = receiver.status if len(receiver.requests) < receiver.fail_first else 200
                receiver.requests.append(body)
                receiver.answers.append(answer)
            self.send_response(answer)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
