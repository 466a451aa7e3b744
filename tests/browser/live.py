"""A real Coffer HTTP server for the browser tests: uvicorn in a background thread.

The server runs ``coffer.server.create_server`` (the API and both webs, as ``coffer serve``
does) on a free 127.0.0.1 port, on a freshly migrated database, with a clock the tests can move
forward (to expire links and sessions without waiting).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn

from coffer.app import Runtime
from coffer.server import create_server


@dataclass
class ShiftedClock:
    """The system clock plus an offset that tests may change."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    @contextmanager
    def shifted(self, delta: timedelta) -> Iterator[None]:
        self.offset += delta
        try:
            yield
        finally:
            self.offset -= delta


@contextmanager
def serve(runtime: Runtime) -> Iterator[str]:
    """Serve the whole app in a thread; yield its base URL; stop it afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_server(runtime), log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="coffer-live"
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
