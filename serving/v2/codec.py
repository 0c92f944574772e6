"""Open Inference Protocol v2 tensors <-> mlsys flights and answers, shared by REST and gRPC.

A V2 infer request carries N flights as named input tensors of shape ``[N]`` (or ``[N, 1]``),
one per ``FlightRequest`` field: BYTES for the strings (``scheduled_departure`` in ISO 8601 with
its UTC offset), an integer type for ``flight``, a number for ``distance``; ``tailnum`` and
``request_id`` may be left out (an empty string is none). Each row becomes a ``FlightRequest``,
validated exactly as ``/predict`` validates its JSON, so the same flight gets the same answer.
The answer has one output tensor per ``Prediction`` field (lists as comma-joined BYTES) and,
when ``explain`` was asked, ``explanation`` (BYTES, one JSON object per flight).

Anything wrong with a request raises ``V2Error`` with a reason a client can act on: the REST
routes answer it as the protocol's ``{"error": ...}`` with a 400, gRPC as INVALID_ARGUMENT.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from serving.schemas import FlightRequest, Prediction

REQUIRED = ("carrier", "flight", "origin", "dest", "scheduled_departure", "distance")
OPTIONAL = ("tailnum", "request_id")
INPUTS = REQUIRED + OPTIONAL
INPUT_TYPES = {  # what metadata announces; any integer type is taken for flight, any number for
    "carrier": "BYTES",  # distance
    "flight": "INT64",
    "tailnum": "BYTES",
    "origin": "BYTES",
    "dest": "BYTES",
    "scheduled_departure": "BYTES",
    "distance": "FP64",
    "request_id": "BYTES",
}
OUTPUT_TYPES = {
    "request_id": "BYTES",
    "delay_probability": "FP64",
    "delayed": "BOOL",
    "model_version": "BYTES",
    "variant": "BYTES",
    "missing_features": "BYTES",
    "rule": "BYTES",
    "threshold": "FP64",
    "fallbacks": "BYTES",
}
EXPLANATION = "explanation"
NUMERIC = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
NUMERIC_FLOAT = NUMERIC | {"FP16", "FP32", "FP64"}
ACCEPTED = {  # input -> datatypes it may come as
    **{name: {"BYTES"} for name in INPUTS},
    "flight": NUMERIC,
    "distance": NUMERIC_FLOAT,
}
MAX_FLIGHTS = 1000  # like /predict/batch
NP_TYPES = {
    "BOOL": "?",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}

STRUCT_8 = {"INT64": "<q", "FP64": "<d"}  # struct formats numpy's tolist agrees with, 8 bytes
STRUCT_ONE = {"FP64": (float, "<d"), "BOOL": (bool, "?")}  # one output value of exactly this type
REQUIRED_SET = set(REQUIRED)
ALL_OUTPUTS = tuple(OUTPUT_TYPES)  # what a call without ``outputs`` nor explain answers


class V2Error(ValueError):
    """A request the protocol refuses: a 400 ``{"error": ...}`` or INVALID_ARGUMENT."""


@dataclass(frozen=True)
class Tensor:
    """One input as decoded from either transport: its values flattened row-major."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: Sequence[Any]


@dataclass(frozen=True)
class InferCall:
    """A decoded infer request: the flights, in order, and what the client asked for."""

    id: str
    flights: list[FlightRequest]
    explain: bool
    outputs: tuple[str, ...]  # requested output names (all of them when none were asked)


def flights_from_tensors(
    tensors: Sequence[Tensor],
    request_id: str = "",
    parameters: Mapping[str, Any] | None = None,
    outputs: Sequence[str] = (),
) -> InferCall:
    """Validate the tensors and build one ``FlightRequest`` per row."""
    by_name: dict[str, Tensor] = {}
    for tensor in tensors:
        if tensor.name not in ACCEPTED:
            raise V2Error(f"unexpected input '{tensor.name}' (inputs: {', '.join(INPUTS)})")
        if tensor.name in by_name:
            raise V2Error(f"input '{tensor.name}' given twice")
        if tensor.datatype not in ACCEPTED[tensor.name]:
            allowed = "/".join(sorted(ACCEPTED[tensor.name]))
            raise V2Error(
                f"input '{tensor.name}' has datatype {tensor.datatype}, expected {allowed}"
            )
        by_name[tensor.name] = tensor
    missing = [name for name in REQUIRED if name not in by_name]
    if missing:
        raise V2Error(f"missing input(s): {', '.join(missing)}")
    count = _row_count(by_name)
    explain = _flag((parameters or {}).get("explain", False), "explain")
    wanted = tuple(outputs) or tuple(OUTPUT_TYPES) + ((EXPLANATION,) if explain else ())
    for name in wanted:
        if name not in OUTPUT_TYPES and not (name == EXPLANATION and explain):
            known = ", ".join([*OUTPUT_TYPES, EXPLANATION])
            raise V2Error(f"unknown output '{name}' (outputs: {known}; explanation needs explain)")
    columns = {name: tensor.values for name, tensor in by_name.items()}
    flights = []
    for row in range(count):
        fields = {name: scalar(name, column[row]) for name, column in columns.items()}
        row_id = request_id if count == 1 else f"{request_id}:{row}"
        flights.append(_flight(fields, row_id, row))
    return InferCall(request_id, flights, explain, wanted)


def one_flight_call(fields: dict[str, Any], request_id: str) -> InferCall | None:
    """The call of one flight's decoded input values (by input name, each accepted in its
    datatype), as ``flights_from_tensors`` makes it; None when a required input is missing."""
    if not fields.keys() >= REQUIRED_SET:
        return None
    return InferCall(request_id, [_flight(fields, request_id, 0)], False, ALL_OUTPUTS)


def _flight(fields: dict[str, Any], request_id: str, row: int) -> FlightRequest:
    """Row ``row``'s flight from its input values: an empty ``tailnum`` is absent, and a
    flight without its own ``request_id`` takes the request's (``request_id``, if any)."""
    if not fields.get("tailnum"):
        fields.pop("tailnum", None)
    if not fields.get("request_id"):
        fields.pop("request_id", None)
        if request_id:
            fields["request_id"] = request_id
    try:
        return FlightRequest.model_validate(fields)
    except ValidationError as exc:
        raise V2Error(_reason(exc, row)) from None


def _row_count(tensors: Mapping[str, Tensor]) -> int:
    counts = set()
    for tensor in tensors.values():
        shape = tensor.shape
        if not shape or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise V2Error(f"input '{tensor.name}' has shape {list(shape)}, expected [N] or [N, 1]")
        if shape[0] != len(tensor.values):
            raise V2Error(
                f"input '{tensor.name}' has shape {list(shape)} but {len(tensor.values)} values"
            )
        counts.add(shape[0])
    if len(counts) != 1:
        raise V2Error(f"inputs disagree on the number of flights: {sorted(counts)}")
    count = counts.pop()
    if not 1 <= count <= MAX_FLIGHTS:
        raise V2Error(f"{count} flights: between 1 and {MAX_FLIGHTS} per request")
    return count


def scalar(name: str, value: Any) -> Any:
    """One input value as the flight takes it: BYTES as UTF-8 text, numpy scalars as Python's."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise V2Error(f"input '{name}' is not UTF-8") from None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise V2Error(f"parameter '{name}' must be a boolean, got {str(value)[:50]!r}")


def _reason(exc: ValidationError, row: int) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error.get("loc", ())) or "flight"
    return f"input '{field}' row {row}: {error.get('msg', 'invalid')}"


def rest_tensors(body: Any) -> tuple[list[Tensor], str, dict[str, Any], list[str]]:
    """The inputs, id, parameters and requested outputs of a V2 REST JSON body."""
    if not isinstance(body, dict):
        raise V2Error("the body must be a JSON object with 'inputs'")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error("'inputs' must be a non-empty list of tensors")
    tensors = []
    for item in inputs:
        if not isinstance(item, dict):
            raise V2Error("each input must be an object with name, shape, datatype and data")
        name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
        if not isinstance(name, str) or not isinstance(datatype, str):
            raise V2Error("each input needs a string 'name' and 'datatype'")
        if not _is_shape(shape):
            raise V2Error(f"input '{name}' needs 'shape', a list of non-negative integers")
        tensors.append(Tensor(name, datatype, tuple(shape), _flatten(item.get("data"), name)))
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise V2Error("'id' must be a string")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise V2Error("'parameters' must be an object")
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise V2Error("'outputs' must be a list of objects with a 'name'")
    return tensors, request_id, parameters, [o["name"] for o in outputs]


def _is_shape(shape: Any) -> bool:
    """A list of non-negative integers (a one-flight ``[1]`` is told without a generator)."""
    if type(shape) is list and len(shape) == 1 and type(shape[0]) is int:
        return shape[0] >= 0
    return isinstance(shape, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    )


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise V2Error(f"input '{name}' needs 'data', a list")
    if len(data) == 1 and not isinstance(data[0], list):  # one flight: nothing nested
        return data
    if all(not isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def raw_values(datatype: str, raw: bytes, name: str) -> list[Any]:
    """A tensor's values from ``raw_input_contents`` (little-endian; BYTES length-prefixed)."""
    if datatype == "BYTES":
        values, at = [], 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise V2Error(f"input '{name}': raw BYTES cut short")
            (length,) = struct.unpack_from("<I", raw, at)
            at += 4
            if at + length > len(raw):
                raise V2Error(f"input '{name}': raw BYTES cut short")
            values.append(raw[at : at + length])
            at += length
        return values
    dtype = NP_TYPES.get(datatype)
    if dtype is None:
        raise V2Error(f"input '{name}': unknown datatype {datatype}")
    if len(raw) % np.dtype(dtype).itemsize:
        raise V2Error(f"input '{name}': {len(raw)} raw bytes is not a whole number of {datatype}")
    if len(raw) == 8 and datatype in STRUCT_8:  # one INT64 or FP64 flight: the usual call
        return list(struct.unpack(STRUCT_8[datatype], raw))
    return np.frombuffer(raw, dtype=dtype).tolist()


def output_columns(
    answers: Sequence[Prediction], names: Sequence[str]
) -> list[tuple[str, str, list[Any]]]:
    """``(name, datatype, values)`` of each requested output, one value per answer."""
    out = []
    for name in names:
        if name == EXPLANATION:
            values = [_explanation_json(answer) for answer in answers]
        elif name in ("missing_features", "fallbacks"):
            values = [",".join(getattr(answer, name)) for answer in answers]
        elif name == "model_version":
            values = [answer.model_version or "" for answer in answers]
        else:
            values = [getattr(answer, name) for answer in answers]
        out.append((name, OUTPUT_TYPES.get(name, "BYTES"), values))
    return out


def _explanation_json(answer: Prediction) -> str:
    explanation = getattr(answer, "explanation", None)
    return orjson.dumps(explanation.model_dump() if explanation is not None else None).decode()


def served_version(answers: Sequence[Prediction]) -> str:
    """The answer's ``model_version``: the version that answered every flight, else ''."""
    versions = {answer.model_version for answer in answers}
    return (versions.pop() or "") if len(versions) == 1 else ""


def raw_bytes(datatype: str, values: Sequence[Any]) -> bytes:
    """Values as ``raw_output_contents`` (what tritonclient and the kserve SDK read)."""
    if datatype == "BYTES":
        parts = []
        for value in values:
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return b"".join(parts)
    if len(values) == 1 and type(values[0]) is STRUCT_ONE.get(datatype, (None,))[0]:
        return struct.pack(STRUCT_ONE[datatype][1], values[0])  # one answer: what numpy writes
    return np.asarray(values, dtype=NP_TYPES[datatype]).tobytes()
