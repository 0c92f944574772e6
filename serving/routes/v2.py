"""Open Inference Protocol v2 (KServe V2) over REST: health, metadata and infer.

The paths, bodies and error bodies (``{"error": "..."}`` with a 4xx) are the protocol's, so
KServe's, Seldon's and Triton's clients, gateways and load tools talk to mlsys as they would to
those servers. Bodies are parsed here (orjson, then ``serving/v2/codec.py``) rather than by a
pydantic model, so that every refusal is the protocol's error, not FastAPI's 422.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from serving.routes.predict import set_variant
from serving.services import Services
from serving.v2 import codec, service

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])


class ErrorBody(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad request: the protocol's error body.", "model": ErrorBody},
    404: {"description": "Not the served model.", "model": ErrorBody},
}


class Tensor(BaseModel):
    name: str
    datatype: str = Field(examples=["BYTES"])
    shape: list[int] = Field(examples=[[1]])
    data: list[Any]
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """N flights as named tensors of shape [N]: carrier, flight, tailnum (optional), origin,
    dest, scheduled_departure (ISO 8601 with offset), distance, request_id (optional)."""

    id: str | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"explain": true} adds the top contributions.'
    )
    inputs: list[Tensor]
    outputs: list[dict[str, Any]] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Any] | None = None
    outputs: list[Tensor]


EXAMPLE = {
    "id": "req-0001",
    "inputs": [
        {"name": "carrier", "datatype": "BYTES", "shape": [1], "data": ["UA"]},
        {"name": "flight", "datatype": "INT64", "shape": [1], "data": [1545]},
        {"name": "tailnum", "datatype": "BYTES", "shape": [1], "data": ["N14228"]},
        {"name": "origin", "datatype": "BYTES", "shape": [1], "data": ["EWR"]},
        {"name": "dest", "datatype": "BYTES", "shape": [1], "data": ["IAH"]},
        {
            "name": "scheduled_departure",
            "datatype": "BYTES",
            "shape": [1],
            "data": ["2013-06-01T09:15:00-04:00"],
        },
        {"name": "distance", "datatype": "FP64", "shape": [1], "data": [1400]},
    ],
}
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": InferenceRequest.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                ),
                "example": EXAMPLE,
            }
        },
    }
}


def error(message: str, status: int = 400) -> Response:
    return Response(_error_body(message), status, media_type="application/json")


def _error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


@router.get("/health/live")
async def live() -> dict[str, bool]:
    """The server answers."""
    return {"live": True}


@router.get("/health/ready", responses={400: {"description": "Not ready."}})
async def ready(request: Request) -> Response:
    """A model is loaded and the online store answers (as ``/ready``); 400 otherwise."""
    services: Services = request.app.state.services
    ok = service.model_ready(services) and await run_in_threadpool(services.features.ready)
    return _json({"ready": ok}, 200 if ok else 400)


@router.get("")
async def server_metadata() -> dict[str, Any]:
    """The server's name, version and protocol extensions."""
    return {"name": service.SERVER_NAME, "version": service.SERVER_VERSION, "extensions": []}


@router.get("/models/{name}", responses=ERRORS)
@router.get("/models/{name}/versions/{version}", responses=ERRORS)
async def model_metadata(name: str, request: Request, version: str = "") -> Response:
    """The model's versions being served and its input and output tensors."""
    services: Services = request.app.state.services
    try:
        service.check_model(services, name, version)
    except service.ModelNotFound as exc:
        return error(str(exc), 404)
    return _json(service.metadata(services))


@router.get("/models/{name}/ready", responses=ERRORS)
@router.get("/models/{name}/versions/{version}/ready", responses=ERRORS)
async def model_ready(name: str, request: Request, version: str = "") -> Response:
    """The model can answer; 400 when it cannot."""
    services: Services = request.app.state.services
    try:
        service.check_model(services, name, version)
    except service.ModelNotFound as exc:
        return error(str(exc), 404)
    ok = service.model_ready(services)
    return _json({"name": name, "ready": ok}, 200 if ok else 400)


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra=REQUEST_BODY,
)
async def infer(name: str, request: Request) -> Response:
    """Score N flights through the same pipeline as ``/predict``; ``{"explain": true}`` in
    ``parameters`` adds an ``explanation`` output (JSON per flight). No version path: mlsys
    routes each flight to the champion or the challenger itself (the answer says which)."""
    services: Services = request.app.state.services
    status, body, variant = await infer_body(services, name, await request.body())
    if variant != "none":
        set_variant(request, variant)
    return Response(body, status, media_type="application/json")


async def infer_body(services: Services, name: str, raw: bytes) -> tuple[int, bytes, str]:
    """The infer route's answer: its status, JSON body and the variant that answered ("none"
    for a refusal). Shared with the fast lane (serving/fast_lane.py), so both answer alike."""
    try:
        service.check_model(services, name)
    except service.ModelNotFound as exc:
        return 404, _error_body(str(exc)), "none"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return 400, _error_body(f"the body is not JSON: {str(exc)[:200]}"), "none"
    try:
        tensors, request_id, parameters, outputs = codec.rest_tensors(body)
        call = codec.flights_from_tensors(tensors, request_id, parameters, outputs)
        answers = await service.infer(services, call, "v2_rest")
    except codec.V2Error as exc:
        return 400, _error_body(str(exc)), "none"
    variants = {answer.variant for answer in answers}
    variant = variants.pop() if len(variants) == 1 else "mixed"
    count = len(answers)
    answer = {
        "model_name": services.settings.registry.model_name,
        "model_version": codec.served_version(answers),
        "id": call.id,
        "outputs": [
            {"name": n, "datatype": t, "shape": [count], "data": values}
            for n, t, values in codec.output_columns(answers, call.outputs)
        ],
    }
    return 200, orjson.dumps(answer), variant
