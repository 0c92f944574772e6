"""Open Inference Protocol v2 over gRPC: ``inference.GRPCInferenceService`` beside HTTP.

The server is ``grpc.aio`` on the app's own event loop, started and stopped by its lifespan, so
a gRPC ModelInfer of one flight goes to the same micro-batcher as ``/predict`` (the ModelInfer
calls of a loop pass share one store read and one booster call), and the metrics it counts are
the same registry's: ``mlsys_requests{endpoint="grpc:ModelInfer"}`` and its latency histogram.
With ``--workers N`` every worker binds the port with SO_REUSEPORT (gRPC's default on Linux),
and the kernel spreads connections over them.

A bad request ends with INVALID_ARGUMENT and the reason, an unknown model with NOT_FOUND; a bug
with UNAVAILABLE (retryable, no internals), never INTERNAL.

Answers use ``raw_output_contents`` (little-endian values, BYTES length-prefixed), which
tritonclient and the kserve SDK read; requests may use either ``contents`` or raw inputs.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from starlette.concurrency import run_in_threadpool

from serving.batcher import MicroBatcher
from serving.services import Services
from serving.v2 import codec, grpc_wire, service
from serving.v2.proto import open_inference_grpc_pb2 as pb
from serving.v2.proto import open_inference_grpc_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

CONTENTS = {  # datatype -> the InferTensorContents field holding it
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
Handler = Callable[[Any, Any, Any, dict[str, str]], Awaitable[Any]]


def _rpc(name: str) -> Callable[[Handler], Callable[..., Awaitable[Any]]]:
    """Count and time the call like the HTTP middleware does; map refusals to status codes."""

    endpoint = f"grpc:{name}"

    def wrap(method: Handler) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def call(self: InferenceServicer, request: Any, context: Any) -> Any:
            started = time.perf_counter()
            info = {"variant": "none"}
            code, message = grpc.StatusCode.OK, ""
            try:
                return await method(self, request, context, info)
            except codec.V2Error as exc:
                code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
            except service.ModelNotFound as exc:
                code, message = grpc.StatusCode.NOT_FOUND, str(exc)
            except Exception:  # noqa: BLE001 - a bug answers UNAVAILABLE (retryable), logged
                logger.exception("unexpected error in gRPC %s", name)
                code, message = grpc.StatusCode.UNAVAILABLE, "temporarily unable to answer"
            finally:
                self.services.metrics.observe_request(
                    endpoint, info["variant"], code.name, time.perf_counter() - started
                )
            await context.abort(code, message)

        return call

    return wrap


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, services: Services) -> None:
        self.services = services

    @_rpc("ServerLive")
    async def ServerLive(self, request: Any, context: Any, info: dict[str, str]) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    @_rpc("ServerReady")
    async def ServerReady(self, request: Any, context: Any, info: dict[str, str]) -> Any:  # noqa: N802
        services = self.services
        ok = service.model_ready(services) and await run_in_threadpool(services.features.ready)
        return pb.ServerReadyResponse(ready=ok)

    @_rpc("ModelReady")
    async def ModelReady(self, request: Any, context: Any, info: dict[str, str]) -> Any:  # noqa: N802
        service.check_model(self.services, request.name, request.version)
        return pb.ModelReadyResponse(ready=service.model_ready(self.services))

    @_rpc("ServerMetadata")
    async def ServerMetadata(self, request: Any, context: Any, info: dict[str, str]) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(name=service.SERVER_NAME, version=service.SERVER_VERSION)

    @_rpc("ModelMetadata")
    async def ModelMetadata(self, request: Any, context: Any, info: dict[str, str]) -> Any:  # noqa: N802
        service.check_model(self.services, request.name, request.version)
        found = service.metadata(self.services)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=found["name"],
            versions=found["versions"],
            platform=found["platform"],
            inputs=[tensor(**t) for t in found["inputs"]],
            outputs=[tensor(**t) for t in found["outputs"]],
        )

    @_rpc("ModelInfer")
    async def ModelInfer(self, request: Any, context: Any, info: dict[str, str]) -> Any:  # noqa: N802
        service.check_model(self.services, request.model_name)
        if request.model_version:
            raise codec.V2Error(
                "leave model_version empty: mlsys routes each flight to the champion or the "
                "challenger itself (the model_version output says which answered)"
            )
        call = _one_flight(request) or codec.flights_from_tensors(
            _tensors(request),
            request.id,
            {key: _parameter(value) for key, value in request.parameters.items()},
            [output.name for output in request.outputs],
        )
        answers = await service.infer(self.services, call, "v2_grpc")
        variants = {answer.variant for answer in answers}
        info["variant"] = variants.pop() if len(variants) == 1 else "mixed"
        count = len(answers)
        return grpc_wire.infer_response(  # the bytes of the ModelInferResponse, written directly
            self.services.settings.registry.model_name,
            codec.served_version(answers),
            call.id,
            (
                (name, datatype, count, codec.raw_bytes(datatype, values))
                for name, datatype, values in codec.output_columns(answers, call.outputs)
            ),
        )


def _one_flight(request: Any) -> codec.InferCall | None:
    """The call of a request in the form tritonclient sends one flight in: raw inputs of shape
    ``[1]``, one value each, no parameters nor outputs asked. Read straight from the raw bytes,
    as ``_tensors`` and ``flights_from_tensors`` would read them; None for anything else (the
    full path decides, and refuses, as ever)."""
    raw, inputs = request.raw_input_contents, request.inputs
    if not raw or len(raw) != len(inputs) or request.parameters or request.outputs:
        return None
    fields: dict[str, Any] = {}
    for tensor, data in zip(inputs, raw, strict=True):
        name, datatype = tensor.name, tensor.datatype
        if name in fields or datatype not in codec.ACCEPTED.get(name, ()) or tensor.shape != [1]:
            return None
        if datatype != "BYTES" and datatype not in codec.STRUCT_8:
            return None
        try:
            values = codec.raw_values(datatype, data, name)
            if len(values) != 1:
                return None
            fields[name] = codec.scalar(name, values[0])
        except codec.V2Error:
            return None
    return codec.one_flight_call(fields, request.id)


def _tensors(request: Any) -> list[codec.Tensor]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise codec.V2Error(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: give one per input"
        )
    tensors = []
    for i, tensor in enumerate(request.inputs):
        if raw:
            values = codec.raw_values(tensor.datatype, raw[i], tensor.name)
        else:
            field = CONTENTS.get(tensor.datatype)
            if field is None:
                raise codec.V2Error(f"input '{tensor.name}': unknown datatype {tensor.datatype}")
            values = list(getattr(tensor.contents, field))
        tensors.append(codec.Tensor(tensor.name, tensor.datatype, tuple(tensor.shape), values))
    return tensors


def _parameter(value: Any) -> Any:
    kind = value.WhichOneof("parameter_choice")
    return getattr(value, kind) if kind else None


SERVICE = "inference.GRPCInferenceService"
REQUESTS = {
    "ServerLive": pb.ServerLiveRequest,
    "ServerReady": pb.ServerReadyRequest,
    "ModelReady": pb.ModelReadyRequest,
    "ServerMetadata": pb.ServerMetadataRequest,
    "ModelMetadata": pb.ModelMetadataRequest,
    "ModelInfer": pb.ModelInferRequest,
}


def _handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """The service's methods, each parsing its own request: bytes that are not the message get
    INVALID_ARGUMENT with the reason (gRPC's own deserializer would answer INTERNAL)."""

    def parsing(name: str, message: Any) -> Callable[..., Awaitable[Any]]:
        method = getattr(servicer, name)

        async def call(raw: bytes, context: Any) -> Any:
            try:
                request = message.FromString(raw)
            except DecodeError as exc:
                servicer.services.metrics.requests.labels(
                    f"grpc:{name}", "none", grpc.StatusCode.INVALID_ARGUMENT.name
                ).inc()
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"not a {message.__name__}: {exc}"
                )
            return await method(request, context)

        async def infer(raw: bytes, context: Any) -> Any:
            try:
                return await call(raw, context)
            finally:
                servicer.services.batcher.settled()

        return infer if name == "ModelInfer" else call

    return _Announcing(
        servicer.services.batcher,
        {
            f"/{SERVICE}/{name}": grpc.unary_unary_rpc_method_handler(
                parsing(name, message), response_serializer=_serialize
            )
            for name, message in REQUESTS.items()
        },
    )


class _Announcing(grpc.GenericRpcHandler):
    """The service's handlers by method path. Each ModelInfer call is announced to the
    micro-batcher when accepted, before its message is read: the batcher then waits for the
    calls of a burst, which grpc.aio accepts one loop pass at a time (serving/batcher.py)."""

    def __init__(self, batcher: MicroBatcher, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.batcher = batcher
        self.handlers = handlers
        self.infer = f"/{SERVICE}/ModelInfer"

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method == self.infer:
            self.batcher.announce()
        return self.handlers.get(method)


def _serialize(message: Any) -> bytes:
    """A message's bytes; ModelInfer answers with its bytes already (serving/v2/grpc_wire.py)."""
    return message if type(message) is bytes else message.SerializeToString()


# No BDP probing: gRPC pings the client with incoming data to size its flow-control window for
# large transfers: here a ping and its ack per burst of small calls, about an eighth of the
# server's CPU per ModelInfer at c8. A request larger than the initial window (64 KiB, several
# hundred flights) may wait one more round trip for a WINDOW_UPDATE; answers and errors are
# the same.
OPTIONS = [("grpc.so_reuseport", 1), ("grpc.http2.bdp_probe", 0)]


async def start_grpc_server(services: Services, host: str, port: int) -> grpc.aio.Server:
    """Serve ``GRPCInferenceService`` on ``host:port`` on the running loop."""
    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers((_handlers(InferenceServicer(services)),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot serve gRPC on {address}: {exc}") from None
    if not bound:
        raise RuntimeError(f"cannot serve gRPC on {address} (in use?)")
    await server.start()
    logger.info("gRPC GRPCInferenceService on %s", address)
    return server
