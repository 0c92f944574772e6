"""``ModelInferResponse`` written straight to its wire bytes.

Building the message costs a protobuf call per field and per output (nine ``outputs.add``, nine
``raw_output_contents.append``, then ``SerializeToString``), more Python time than decoding the
request and validating its flight. The answer's layout is fixed (three strings, the outputs'
headers, their raw contents), so it is written here as protobuf would: fields in number order,
empty strings left out, every repeated element written. Each output's header depends only on its
name, datatype and row count, and is built once. A test pins the bytes to ``SerializeToString``
of the message built field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

MODEL_NAME, MODEL_VERSION, ID, OUTPUTS, RAW_OUTPUT_CONTENTS = 0x0A, 0x12, 0x1A, 0x2A, 0x32
TENSOR_NAME, TENSOR_DATATYPE, TENSOR_SHAPE = 0x0A, 0x12, 0x1A  # InferOutputTensor fields


def infer_response(
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Iterable[tuple[str, str, int, bytes]],
) -> bytes:
    """The serialized response; ``outputs`` are ``(name, datatype, rows, raw contents)``, each
    announced with shape ``[rows]``."""
    head = _string(MODEL_NAME, model_name) + _string(MODEL_VERSION, model_version)
    head += _string(ID, request_id)
    headers, contents = [head], []
    for name, datatype, count, raw in outputs:
        headers.append(_output_header(name, datatype, count))
        contents.append(_length_delimited(RAW_OUTPUT_CONTENTS, raw))
    return b"".join(headers + contents)


@functools.lru_cache(maxsize=256)
def _output_header(name: str, datatype: str, count: int) -> bytes:
    """One ``InferOutputTensor`` (name, datatype, shape ``[count]``) as a field of the answer."""
    tensor = _string(TENSOR_NAME, name) + _string(TENSOR_DATATYPE, datatype)
    tensor += _length_delimited(TENSOR_SHAPE, _varint(count))  # packed repeated int64
    return _length_delimited(OUTPUTS, tensor)


def _string(tag: int, value: str) -> bytes:
    """A proto3 string field: absent when empty."""
    return _length_delimited(tag, value.encode()) if value else b""


def _length_delimited(tag: int, data: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
