"""Request metrics as a pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics


class MetricsMiddleware:
    """Count every request by endpoint, variant and status, and time it."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, paths: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = {"variant": "none", "status": 500}
        scope["mlsys"] = info

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                info["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = scope["path"]
            endpoint = path if path in self.paths else "other"
            self.metrics.observe_request(
                endpoint, str(info["variant"]), str(info["status"]), time.perf_counter() - started
            )
