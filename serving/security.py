"""Request hardening: the body-size limit (413) and the admin bearer token.

The limit is a pure ASGI middleware so an oversized body is refused before it is read or parsed;
a body without Content-Length (chunked) is counted while it streams in. The admin token is
compared in constant time so response timing does not leak how much of a guess was right.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated

from fastapi import Header, HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Answer 413 to any request whose body is larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await _send_413(send, self.max_bytes)
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        # No declared length: read the stream up to the limit before the app sees it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _send_413(send, self.max_bytes)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, max_bytes: int) -> None:
    body = json.dumps({"detail": f"request body larger than {max_bytes} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status.HTTP_413_CONTENT_TOO_LARGE,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return hmac.compare_digest(given.encode(), expected.encode())


async def require_admin(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Dependency of every admin route: a valid ``Authorization: Bearer <token>`` or 401/403."""
    expected: str | None = request.app.state.settings.admin_secret
    if not expected:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "admin endpoints are disabled: no MLSYS_BACKENDS__ADMIN_TOKEN set",
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token or not token_matches(token.strip(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid admin bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
