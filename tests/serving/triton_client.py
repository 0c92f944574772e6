"""Asks mlsys through tritonclient, a V2 client nobody in this project wrote (run as a process).

It cannot share a process with mlsys's own stubs: tritonclient registers the same protobuf
messages (``inference.*``) from its own .proto, and the protobuf runtime refuses both.

    python tests/serving/triton_client.py HTTP_URL GRPC_URL FLIGHTS.json  ->  JSON on stdout
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

MODEL = "flight_delay"
OUTPUTS = ("request_id", "delay_probability", "delayed", "variant", "model_version")


def tensors(module: Any, flights: list[dict[str, Any]], binary: bool) -> list[Any]:
    columns = {
        "carrier": ("BYTES", [f["carrier"].encode() for f in flights]),
        "flight": ("INT64", [f["flight"] for f in flights]),
        "tailnum": ("BYTES", [(f.get("tailnum") or "").encode() for f in flights]),
        "origin": ("BYTES", [f["origin"].encode() for f in flights]),
        "dest": ("BYTES", [f["dest"].encode() for f in flights]),
        "scheduled_departure": ("BYTES", [f["scheduled_departure"].encode() for f in flights]),
        "distance": ("FP64", [f["distance"] for f in flights]),
        "request_id": ("BYTES", [f["request_id"].encode() for f in flights]),
    }
    out = []
    for name, (datatype, values) in columns.items():
        array = np.array(values, dtype=object if datatype == "BYTES" else None)
        if datatype == "INT64":
            array = array.astype(np.int64)
        tensor = module.InferInput(name, [len(flights)], datatype)
        if module is triton_http:
            tensor.set_data_from_numpy(array, binary_data=binary)
        else:
            tensor.set_data_from_numpy(array)
        out.append(tensor)
    return out


def answers(result: Any) -> list[dict[str, Any]]:
    columns = {name: result.as_numpy(name).tolist() for name in OUTPUTS}
    rows = []
    for values in zip(*columns.values(), strict=True):
        row = dict(zip(OUTPUTS, values, strict=True))
        rows.append({k: v.decode() if isinstance(v, bytes) else v for k, v in row.items()})
    return rows


def main() -> None:
    http_url, grpc_url, path = sys.argv[1:4]
    with open(path) as handle:
        flights = json.load(handle)
    out: dict[str, Any] = {}
    http = triton_http.InferenceServerClient(http_url)
    grpc = triton_grpc.InferenceServerClient(grpc_url)
    out["http_live"], out["grpc_live"] = http.is_server_live(), grpc.is_server_live()
    out["http_ready"] = http.is_model_ready(MODEL)
    out["grpc_ready"] = grpc.is_model_ready(MODEL)
    out["grpc_versions"] = list(grpc.get_model_metadata(MODEL).versions)
    requested = [triton_http.InferRequestedOutput(n, binary_data=False) for n in OUTPUTS]
    out["http"] = [
        answers(http.infer(MODEL, tensors(triton_http, [f], False), outputs=requested))[0]
        for f in flights
    ]
    out["grpc"] = [answers(grpc.infer(MODEL, tensors(triton_grpc, [f], True)))[0] for f in flights]
    out["grpc_batch"] = answers(grpc.infer(MODEL, tensors(triton_grpc, flights, True)))
    try:
        grpc.infer(MODEL, tensors(triton_grpc, flights, True)[:3])
    except InferenceServerException as exc:
        out["grpc_error"] = {"status": exc.status(), "message": exc.message()}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
