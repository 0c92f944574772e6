"""Error answers that cannot fail themselves: 422 and 400 bodies built from bounded, strict JSON.

FastAPI's own 422 handler echoes each error's ``input``; for ``NaN`` or ``Infinity`` (which
Python's JSON parser accepts) the echo cannot be encoded as JSON, the handler raised, the client
got a 503, and uvicorn dropped the keep-alive connection, losing the next request on it. Here an
input is echoed as strict JSON: a non-finite number as its JSON token in a string (``"NaN"``),
long strings and containers cut to an excerpt, so a 1 MB string is never sent back. A body that
cannot be parsed at all (not UTF-8, nested too deep, an integer of thousands of digits) keeps
FastAPI's 400, with the parser's reason added.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

MAX_ERRORS = 50  # a batch of 1,000 broken flights answers with the first 50 errors
MAX_TEXT = 200  # characters of any echoed string
MAX_ITEMS = 10  # items of any echoed list or object
MAX_DEPTH = 3
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_PARSE_ERROR = "There was an error parsing the body"


def excerpt(value: Any, depth: int = 0) -> Any:
    """``value`` as strict, bounded JSON: what an error may echo of a client's input."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "NaN")
    if isinstance(value, int):
        return value if abs(value) < 2**63 else _cut(str(value))
    if isinstance(value, bytes):
        return _cut(value.decode("utf-8", errors="replace"))
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return "{...}"
        items = list(value.items())
        out = {_cut(str(k)): excerpt(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["..."] = f"{len(items) - MAX_ITEMS} more keys"
        return out
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return "[...]"
        out_list = [excerpt(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"... {len(value) - MAX_ITEMS} more items")
        return out_list
    return _cut(str(value))


def _cut(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}... ({len(text)} characters)"


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422: each error's location, message, type and an excerpt of the offending input."""
    errors = exc.errors()
    detail = [
        {
            "loc": [excerpt(part) for part in error.get("loc", ())],
            "msg": _cut(str(error.get("msg", ""))),
            "type": str(error.get("type", "")),
            "input": excerpt(error.get("input")),
            **({"ctx": excerpt(error["ctx"])} if error.get("ctx") else {}),
        }
        for error in errors[:MAX_ERRORS]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's HTTP errors as they were, with why a body could not be parsed (400); under
    ``/v2/`` in the Open Inference Protocol's error body, ``{"error": "..."}``."""
    detail = exc.detail
    cause = exc.__cause__
    if exc.status_code == 400 and detail == _PARSE_ERROR and cause is not None:
        detail = f"{_PARSE_ERROR}: {_cut(f'{type(cause).__name__}: {cause}')}"
    key = "error" if request.url.path.startswith("/v2/") else "detail"
    return JSONResponse({key: detail}, status_code=exc.status_code, headers=exc.headers)
