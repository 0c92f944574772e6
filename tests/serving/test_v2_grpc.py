"""Open Inference Protocol v2 over gRPC: refusals are INVALID_ARGUMENT with the reason."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import grpc
import pytest

from mlsys_assets.processes import free_port
from serving.v2.proto import open_inference_grpc_pb2 as pb
from serving.v2.proto import open_inference_grpc_pb2_grpc as pb_grpc
from tests.serving.conftest import LiveServer, with_settings
from tests.serving.world import World

FLIGHT = {
    "carrier": ("BYTES", [b"UA"]),
    "flight": ("INT64", [1545]),
    "origin": ("BYTES", [b"EWR"]),
    "dest": ("BYTES", [b"IAH"]),
    "scheduled_departure": ("BYTES", [b"2013-01-22T09:15:00-05:00"]),
    "distance": ("FP64", [1400.0]),
    "request_id": ("BYTES", [b"g-1"]),  # the same id: the same variant answers
}
FIELDS = {"BYTES": "bytes_contents", "INT64": "int64_contents", "FP64": "fp64_contents"}


def request(**changes: tuple[str, list]) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="flight_delay")
    for name, (datatype, values) in (FLIGHT | changes).items():
        tensor = message.inputs.add(name=name, datatype=datatype, shape=[len(values)])
        getattr(tensor.contents, FIELDS[datatype]).extend(values)
    return message


@pytest.fixture
def port_and_stub(world: World) -> Iterator[tuple[int, pb_grpc.GRPCInferenceServiceStub]]:
    port = free_port()
    server = LiveServer(with_settings(world, serving={"grpc_port": port}).settings).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield port, pb_grpc.GRPCInferenceServiceStub(channel)
    finally:
        channel.close()
        server.stop()


@pytest.fixture
def stub(
    port_and_stub: tuple[int, pb_grpc.GRPCInferenceServiceStub],
) -> pb_grpc.GRPCInferenceServiceStub:
    return port_and_stub[1]


def test_grpc_answers_and_refuses_with_reasons(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="flight_delay")).ready
    answer = stub.ModelInfer(request())
    names = [o.name for o in answer.outputs]
    probability = struct.unpack("<d", answer.raw_output_contents[names.index("delay_probability")])
    assert 0.0 < probability[0] < 1.0

    raw = request()  # the same flight as raw_input_contents, as tritonclient sends it
    for tensor in raw.inputs:
        values = getattr(tensor.contents, FIELDS[tensor.datatype])
        if tensor.datatype == "BYTES":
            raw.raw_input_contents.append(b"".join(struct.pack("<I", len(v)) + v for v in values))
        else:
            fmt = "<q" if tensor.datatype == "INT64" else "<d"
            raw.raw_input_contents.append(b"".join(struct.pack(fmt, v) for v in values))
        tensor.ClearField("contents")
    again = stub.ModelInfer(raw)
    assert again.raw_output_contents[names.index("delay_probability")] == struct.pack(
        "<d", probability[0]
    )

    broken_raw = pb.ModelInferRequest()
    broken_raw.CopyFrom(raw)
    broken_raw.raw_input_contents[0] = b"\x05\x00\x00\x00UA"  # says 5 bytes, has 2
    pinned = request()
    pinned.model_version = "2"
    wrong_model = request()
    wrong_model.model_name = "nope"
    explain_text = request()
    explain_text.parameters["explain"].string_param = "maybe"
    cases = [
        (request(carrier=("BYTES", [b"UAX"])), grpc.StatusCode.INVALID_ARGUMENT, "carrier"),
        (request(flight=("BYTES", [b"1545"])), grpc.StatusCode.INVALID_ARGUMENT, "datatype"),
        (request(distance=("FP64", [1.0, 2.0])), grpc.StatusCode.INVALID_ARGUMENT, "disagree"),
        (request(tails=("BYTES", [b"N1"])), grpc.StatusCode.INVALID_ARGUMENT, "unexpected"),
        (broken_raw, grpc.StatusCode.INVALID_ARGUMENT, "cut short"),
        (explain_text, grpc.StatusCode.INVALID_ARGUMENT, "explain"),
        (
            pb.ModelInferRequest(model_name="flight_delay"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "missing",
        ),
        (pinned, grpc.StatusCode.INVALID_ARGUMENT, "model_version"),
        (wrong_model, grpc.StatusCode.NOT_FOUND, "nope"),
    ]
    for message, code, reason in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(message)
        assert caught.value.code() == code, caught.value.details()
        assert reason in caught.value.details()


def test_bytes_that_are_no_request_get_invalid_argument(port_and_stub: tuple[int, object]) -> None:
    port, _ = port_and_stub
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        with pytest.raises(grpc.RpcError) as caught:
            infer(b"\xff\xff\xff garbage", timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a ModelInferRequest" in caught.value.details()


def test_grpc_explanations(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    message = request()
    message.parameters["explain"].bool_param = True
    answer = stub.ModelInfer(message)
    assert "explanation" in [o.name for o in answer.outputs]
