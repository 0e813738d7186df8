"""Test helper: run an ASGI app under uvicorn on a free port of 127.0.0.1, in a daemon thread.

Example:
    >>> with serve_app(app) as url:  # doctest: +SKIP
    ...     requests.get(f"{url}/health")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(config_for: Callable[[int], Any]) -> Iterator[str]:
    """Serve ``uvicorn.Server(config_for(port))`` on a free port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(config_for(port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve_app(app: Any) -> Any:
    """:func:`serve` with uvicorn's default settings for ``app``."""
    import uvicorn

    return serve(lambda port: uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
