"""Client endpoints: single and batch predictions, and outcome feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from mlsys_assets.clock import utc_now
from serving.deps import ServicesDep
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    ExplainedPrediction,
    FeedbackRequest,
    FeedbackResponse,
    FlightRequest,
    Prediction,
)
from serving.services import Services

router = APIRouter(tags=["predictions"])
Explain = Annotated[
    bool,
    Query(
        description="Add each answer's top feature contributions (exact TreeSHAP, in log-odds) "
        "with the values the model received; they are logged with the prediction."
    ),
]


def set_variant(request: Request, variant: str) -> None:
    """Tell the metrics middleware which variant answered (labels the latency histogram)."""
    request.scope.setdefault("mlsys", {})["variant"] = variant


@router.post("/predict", response_model=Prediction | ExplainedPrediction)
async def predict(body: FlightRequest, request: Request, explain: Explain = False) -> Response:
    """Score one flight (inline, micro-batched with the requests that arrive with it).

    The hot path reads the services straight from the app and returns the answer's JSON as
    built (the model already validated it): no dependency resolution, no second validation.
    """
    services: Services = request.app.state.services
    prediction = await services.batcher.predict(body, explain)
    set_variant(request, prediction.variant)
    return Response(prediction.model_dump_json(), media_type="application/json")


@router.post("/predict/batch", response_model=BatchResponse)
async def predict_batch(body: BatchRequest, request: Request, explain: Explain = False) -> Response:
    """Score up to 1,000 flights, one answer each, in order (off the event loop)."""
    services: Services = request.app.state.services
    scored = await run_in_threadpool(services.pipeline.score, body.flights, "batch", explain)
    variants = set(scored.variant)
    set_variant(request, variants.pop() if len(variants) == 1 else "mixed")
    return Response(scored.to_json(), media_type="application/json")


@router.post("/feedback", response_model=FeedbackResponse)
async def feedback(body: FeedbackRequest, services: ServicesDep) -> FeedbackResponse:
    """Record a predicted flight's outcome in the feedback log (joined on ``request_id``)."""
    services.feedback_log.append(
        {
            "request_id": body.request_id,
            "logged_at": utc_now(),
            "arr_delay": body.arr_delay,
            "cancelled": body.cancelled,
        }
    )
    return FeedbackResponse(request_id=body.request_id, accepted=True)
