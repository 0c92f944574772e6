"""``mlsys serve`` keeps an idle connection open for ``MLSYS_SERVING__KEEP_ALIVE_SECONDS``, so a
client (httpx drops idle connections after 5 s) or a load balancer always closes it first.

With uvicorn's default of 5 s, equal to httpx's, a request sent on a pooled connection just as
the server closed it got no answer at all (seen once in a demo: one /predict of 2,536 requests
lost, never logged).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.serving.serve_process import ServeProcess
from tests.serving.world import World

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _ask(connection: socket.socket) -> bytes:
    """One whole response on this connection (status line, headers, the body's bytes)."""
    connection.sendall(REQUEST)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection without an answer")
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def test_an_idle_connection_outlives_a_clients_own_idle_limit(world: World, tmp_path: Path) -> None:
    server = ServeProcess(world, tmp_path, serving__keep_alive_seconds="6").wait_ready()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            assert _ask(connection).startswith(b"HTTP/1.1 200")
            time.sleep(5.5)  # longer than uvicorn's default (5 s): that would have closed it
            assert _ask(connection).startswith(b"HTTP/1.1 200")
            time.sleep(7.0)  # past the setting: the server has closed it
            assert connection.recv(65536) == b""
    finally:
        server.stop()
