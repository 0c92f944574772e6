"""A ModelInfer answer written directly is the message protobuf itself would serialize."""

from __future__ import annotations

import pytest

from serving.v2 import codec, grpc_wire
from serving.v2.proto import open_inference_grpc_pb2 as pb

ONE = [
    ("request_id", "BYTES", ["g-1"]),
    ("delay_probability", "FP64", [0.25]),
    ("delayed", "BOOL", [False]),
    ("rule", "BYTES", [""]),
]
MANY = [
    ("request_id", "BYTES", [f"id-{i}" * 20 for i in range(300)]),  # contents over 127 bytes
    ("threshold", "FP64", [0.5] * 300),  # a shape [300]: a two-byte varint
    ("delayed", "BOOL", [i % 2 == 0 for i in range(300)]),
]


def by_protobuf(model: str, version: str, request_id: str, columns: list) -> bytes:
    response = pb.ModelInferResponse(model_name=model, model_version=version, id=request_id)
    for name, datatype, values in columns:
        response.outputs.add(name=name, datatype=datatype, shape=[len(values)])
        response.raw_output_contents.append(codec.raw_bytes(datatype, values))
    return response.SerializeToString()


@pytest.mark.parametrize(
    ("version", "request_id", "columns"),
    [
        ("3", "req-1", ONE),
        ("", "", ONE),  # empty strings are left out, as proto3 leaves them
        ("12", "réq ✈", MANY),
        ("1", "x" * 200, []),
    ],
)
def test_written_answer_is_the_serialized_message(
    version: str, request_id: str, columns: list
) -> None:
    written = grpc_wire.infer_response(
        "flight_delay",
        version,
        request_id,
        [(n, t, len(v), codec.raw_bytes(t, v)) for n, t, v in columns],
    )
    assert written == by_protobuf("flight_delay", version, request_id, columns)
    parsed = pb.ModelInferResponse.FromString(written)
    assert [o.name for o in parsed.outputs] == [name for name, _, _ in columns]


@pytest.mark.parametrize(
    ("datatype", "values"),
    [("FP64", [0.1234]), ("BOOL", [True]), ("BOOL", [False]), ("FP64", [1]), ("FP64", [0.1, 2])],
)
def test_one_value_is_packed_as_numpy_packs_it(datatype: str, values: list) -> None:
    import numpy as np

    assert (
        codec.raw_bytes(datatype, values)
        == np.asarray(values, dtype=codec.NP_TYPES[datatype]).tobytes()
    )


@pytest.mark.parametrize(
    ("datatype", "value"), [("INT64", -7), ("INT64", 2**40), ("FP64", 1400.5), ("FP64", -0.0)]
)
def test_one_raw_input_reads_as_numpy_reads_it(datatype: str, value: float) -> None:
    import numpy as np

    raw = np.asarray([value], dtype=codec.NP_TYPES[datatype]).tobytes()
    read = codec.raw_values(datatype, raw, "x")
    assert read == np.frombuffer(raw, dtype=codec.NP_TYPES[datatype]).tolist()
    assert type(read[0]) is type(np.frombuffer(raw, dtype=codec.NP_TYPES[datatype]).tolist()[0])
