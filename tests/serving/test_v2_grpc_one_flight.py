"""A one-flight ModelInferRequest with raw inputs (what tritonclient sends) read straight from
its bytes gives the call, or the refusal, that ``_tensors`` then ``flights_from_tensors`` give;
any other request is left to that full path."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from serving.v2 import codec
from serving.v2.grpc_service import _one_flight, _parameter, _tensors
from serving.v2.proto import open_inference_grpc_pb2 as pb

FLIGHT: dict[str, tuple[str, Any]] = {
    "carrier": ("BYTES", "UA"),
    "flight": ("INT64", 1545),
    "tailnum": ("BYTES", "N14228"),
    "origin": ("BYTES", "EWR"),
    "dest": ("BYTES", "IAH"),
    "scheduled_departure": ("BYTES", "2013-01-22T09:15:00-05:00"),
    "distance": ("FP64", 1400.0),
}
PACK = {"INT64": "<q", "FP64": "<d", "INT32": "<i", "FP32": "<f"}


def raw(datatype: str, value: Any) -> bytes:
    if datatype == "BYTES":
        data = value if isinstance(value, bytes) else str(value).encode()
        return struct.pack("<I", len(data)) + data
    return struct.pack(PACK[datatype], value)


def request(call_id: str = "", shape: tuple[int, ...] = (1,), **changes: Any) -> bytes:
    message = pb.ModelInferRequest(model_name="flight_delay", id=call_id)
    for name, spec in (FLIGHT | changes).items():
        if spec is None:  # the input left out
            continue
        datatype, value = spec
        message.inputs.add(name=name, datatype=datatype, shape=list(shape))
        message.raw_input_contents.append(raw(datatype, value))
    return message.SerializeToString()


def full_path(message: Any) -> codec.InferCall | str:
    try:
        parameters = {key: _parameter(value) for key, value in message.parameters.items()}
        outputs = [output.name for output in message.outputs]
        return codec.flights_from_tensors(_tensors(message), message.id, parameters, outputs)
    except codec.V2Error as exc:
        return f"V2Error: {exc}"


def one_flight(message: Any) -> codec.InferCall | str | None:
    try:
        return _one_flight(message)
    except codec.V2Error as exc:
        return f"V2Error: {exc}"


def parsed(data: bytes) -> Any:
    return pb.ModelInferRequest.FromString(data)


def with_extra(data: bytes, change: str) -> bytes:
    message = parsed(data)
    if change == "parameters":
        message.parameters["explain"].bool_param = True
    elif change == "outputs":
        message.outputs.add(name="delayed")
    elif change == "raw cut short":
        message.raw_input_contents[0] = message.raw_input_contents[0][:-1]
    elif change == "one raw too many":
        message.raw_input_contents.append(b"")
    elif change == "contents":
        del message.raw_input_contents[:]
        for tensor, (datatype, value) in zip(message.inputs, FLIGHT.values(), strict=True):
            field = {"BYTES": "bytes_contents", "INT64": "int64_contents"}.get(datatype)
            getattr(tensor.contents, field or "fp64_contents").append(
                value.encode() if datatype == "BYTES" else value
            )
    elif change == "an input twice":
        message.inputs.add(name="carrier", datatype="BYTES", shape=[1])
        message.raw_input_contents.append(raw("BYTES", "UA"))
    return message.SerializeToString()


TAKEN = [
    request(),
    request("req-7"),  # the request's id names the flight
    request("req-7", request_id=("BYTES", "own-id")),
    request(tailnum=("BYTES", "")),
    request(tailnum=None),
    request(carrier=("BYTES", "ua")),  # refused: the same reason
    request(scheduled_departure=("BYTES", "2013-01-22T09:15:00")),
    request(distance=("FP64", -3.0)),
    request(distance=("FP64", float("nan"))),
    request(flight=("INT64", 0)),
    request(request_id=("BYTES", "bad id!")),
    request(carrier=("BYTES", "UAUAUA")),
]
LEFT = [
    request(shape=(1, 1)),
    request(shape=(2,)),
    request(carrier=None),  # a required input missing
    request(flight=("INT32", 1545)),
    request(distance=("FP32", 1400.0)),
    request(carrier=("FP64", 1.0)),
    request(nope=("BYTES", "x")),
    request(carrier=("BYTES", b"\xff\xfe")),  # not UTF-8
    *(
        with_extra(request(), change)
        for change in (
            "parameters",
            "outputs",
            "raw cut short",
            "one raw too many",
            "contents",
            "an input twice",
        )
    ),
]


@pytest.mark.parametrize("data", TAKEN)
def test_a_plain_request_reads_as_the_full_path_reads_it(data: bytes) -> None:
    read = one_flight(parsed(data))
    assert read is not None
    assert read == full_path(parsed(data))


@pytest.mark.parametrize("data", LEFT)
def test_any_other_request_is_left_to_the_full_path(data: bytes) -> None:
    assert one_flight(parsed(data)) is None
