"""The two hot paths, ``POST /predict`` and ``POST /v2/models/<model>/infer``, as plain ASGI.

FastAPI's stack costs more CPU per request than scoring a flight: five middlewares, route
matching over every route, dependency resolution, query parsing, the body parsed by ``json`` and
validated through a TypeAdapter, four ``send`` wrappers. This lane is the outermost layer of the
stack (``create_app`` wraps what FastAPI builds, so FastAPI's own OpenTelemetry, when configured,
still sees every request) and does only what the layers below do for a well-formed request: count
and time it like ``MetricsMiddleware``, refuse nothing itself, parse the body with orjson,
validate it with the same pydantic model, score it through the same micro-batcher and send the
same bytes with the same headers.

Anything it is not sure of goes to the full stack untouched, with the body it may have read
replayed: no or a too large ``Content-Length`` (the stack's 413), another content type or query
string, a body that orjson (stricter than ``json``, and equal to it wherever both accept) or the
model refuses (the stack's 422 with its error body), the app not started. So every answer and
every error is the one the stack gives; the lane only makes the common case cheaper.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics
from serving.schemas import FlightRequest
from serving.services import Services

JSON = b"application/json"
EXPLAIN = {b"": False, b"explain=false": False, b"explain=true": True}
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
InferBody = Callable[[Services, str, bytes], Awaitable[tuple[int, bytes, str]]]


class FastLane:
    """Serves the hot paths of one app; ``stack`` (FastAPI's middleware stack) the rest."""

    def __init__(
        self,
        stack: ASGIApp,
        *,
        state: object,
        metrics: ServingMetrics,
        model_name: str,
        max_body_bytes: int,
        on_error: ErrorHandler,
        infer_body: InferBody,
    ) -> None:
        self.stack = stack
        self.state = state  # the app's state: ``services`` once the lifespan started them
        self.metrics = metrics
        self.model_name = model_name
        self.max_body_bytes = max_body_bytes
        self.on_error = on_error
        self.infer_body = infer_body
        self.predict_path = "/predict"
        self.infer_path = f"/v2/models/{model_name}/infer"
        self.paths = frozenset((self.predict_path, self.infer_path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stack = self.stack
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await stack(scope, receive, send)
            return
        started = time.perf_counter()
        services: Services | None = getattr(self.state, "services", None)
        length, content_type = _headers(scope)
        if (
            services is None
            or length is None
            or length > self.max_body_bytes
            or scope.get("root_path")
        ):
            await stack(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        if body is None:  # not one plain body (a disconnect): the stack decides
            await stack(scope, _replay(messages, receive), send)
            return
        path = scope["path"]
        if path == self.predict_path:
            explain = EXPLAIN.get(scope["query_string"])
            flight = _flight(body) if explain is not None and content_type == JSON else None
            if flight is None:
                await stack(scope, _replay(messages, receive), send)
                return
        status, variant, responding = 500, "none", False
        try:
            if path == self.predict_path:
                prediction = await services.batcher.predict(flight, explain)  # type: ignore[arg-type]
                variant = prediction.variant
                code, answer = 200, prediction.model_dump_json().encode()
            else:
                code, answer, variant = await self.infer_body(services, self.model_name, body)
            status, responding = code, True
            await _send_json(send, code, answer)
        except Exception as exc:  # the stack's ServerErrorMiddleware: the app's handler, re-raised
            if not responding:
                response = await self.on_error(Request(scope), exc)
                await response(scope, receive, send)
            raise
        finally:
            # As MetricsMiddleware counts (it sits inside the error handler: a failure is a 500).
            self.metrics.observe_request(path, variant, str(status), time.perf_counter() - started)


def _headers(scope: Scope) -> tuple[int | None, bytes | None]:
    """The first Content-Length (None: absent or not a number) and Content-Type."""
    length: int | None = None
    content_type: bytes | None = None
    seen_length = False
    for name, value in scope["headers"]:
        if name == b"content-length" and not seen_length:
            seen_length = True
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"content-type" and content_type is None:
            content_type = value
    return length, content_type


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole body, and the messages it came in (to replay them); None if one was not a
    body part."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        if not message.get("more_body", False):
            break
    if len(messages) == 1:
        return messages[0].get("body", b""), messages
    return b"".join(m.get("body", b"") for m in messages), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands the read messages out again, then the connection's own."""
    queue = list(messages)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


def _flight(body: bytes) -> FlightRequest | None:
    """The body as ``FlightRequest``, as FastAPI validates it; None: let FastAPI refuse it."""
    try:
        return FlightRequest.model_validate(orjson.loads(body))
    except (ValueError, ValidationError):  # orjson's errors are ValueErrors too
        return None


async def _send_json(send: Send, status: int, body: bytes) -> None:
    """``Response(body, status, media_type="application/json")``: the same headers, in order."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"content-type", JSON),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
