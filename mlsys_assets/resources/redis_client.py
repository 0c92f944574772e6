"""One way to open Redis for every mlsys resource that uses it (online store, event stream).

The same options everywhere: text responses, bounded connect and read timeouts (a Redis outage
must surface as an error the caller can fall back from, never as a hung request or run), and a
periodic health check so a connection dropped by the server is replaced before it is used.
"""

from __future__ import annotations

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
