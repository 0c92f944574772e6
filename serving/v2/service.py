"""What the V2 REST routes and the gRPC servicer both do: health, metadata, infer.

Infer goes through the same pipeline as ``/predict``: one flight goes to the micro-batcher, which
scores the single requests of a loop pass together, one call per endpoint (the log records each
answer's endpoint: ``v2_rest``, ``v2_grpc``); several are scored as a batch off the event loop
like ``/predict/batch``. So features, canary routing,
rules, the log, fallbacks and the decisions stream are the same for every path.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from serving.schemas import Prediction
from serving.services import Services
from serving.v2.codec import INPUT_TYPES, OUTPUT_TYPES, InferCall, V2Error

PLATFORM = "xgboost"
SERVER_NAME = "mlsys"
SERVER_VERSION = "1"


class ModelNotFound(LookupError):
    """A model name other than the served one: 404 / NOT_FOUND."""


def check_model(services: Services, name: str, version: str = "") -> None:
    """The model asked for is the one served (a version must be one being served)."""
    if name != services.settings.registry.model_name:
        raise ModelNotFound(
            f"model '{name}' is not served (served: {services.settings.registry.model_name})"
        )
    if version and version not in served_versions(services):
        raise ModelNotFound(f"version '{version}' of '{name}' is not being served")


def served_versions(services: Services) -> list[str]:
    state = services.watcher.state
    return [m.version for m in (state.champion, state.challenger) if m is not None]


def model_ready(services: Services) -> bool:
    """A model can answer (the baseline alone is live, not ready: like ``/ready``)."""
    return services.watcher.state.champion is not None


def metadata(services: Services) -> dict[str, Any]:
    """The protocol's model metadata: name, versions, platform, input and output tensors."""
    inputs = [{"name": n, "datatype": t, "shape": [-1]} for n, t in INPUT_TYPES.items()]
    outputs = [{"name": n, "datatype": t, "shape": [-1]} for n, t in OUTPUT_TYPES.items()]
    outputs.append({"name": "explanation", "datatype": "BYTES", "shape": [-1]})
    return {
        "name": services.settings.registry.model_name,
        "versions": served_versions(services),
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
    }


async def infer(services: Services, call: InferCall, endpoint: str) -> list[Prediction]:
    """Answers for the call's flights, in order."""
    if not call.flights:
        raise V2Error("no flights")
    if len(call.flights) == 1:
        answer = await services.batcher.predict(call.flights[0], call.explain, endpoint)
        return [answer]
    scored = await run_in_threadpool(services.pipeline.score, call.flights, endpoint, call.explain)
    return scored.predictions()
