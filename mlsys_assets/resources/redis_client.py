"""One way to open Redis for every mlsys resource that uses it (online store, event stream).

The same options everywhere: text responses, bounded connect and read timeouts (a Redis outage
must surface as an error the caller can fall back from, never as a hung request or run), and a
periodic health check so a connection dropped by the server is replaced before it is used.
"""

from __future__ import annotations

from typing import Any

import redis

HEALTH_CHECK_SECONDS = 30


def redis_client(url: str, timeout_seconds: float) -> redis.Redis:
    """A client (a thread-safe connection pool) for ``url``."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )


class RedisConnection:
    """What every Redis-backed resource does with its connection: open it on first use, close it
    when the run (or the process) is done. The resource declares ``url``,
    ``socket_timeout_seconds`` and ``_client`` (a ``PrivateAttr``)."""

    url: str
    socket_timeout_seconds: float
    _client: redis.Redis | None

    def client(self) -> redis.Redis:
        """One client (a thread-safe connection pool) per resource instance."""
        if self._client is None:
            self._client = redis_client(self.url, self.socket_timeout_seconds)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def teardown_after_execution(self, context: Any) -> None:
        self.close()
