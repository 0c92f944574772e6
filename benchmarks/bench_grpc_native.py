"""gRPC ModelInfer latency with a load generator that is not Python: how much is the server's.

``bench_serving.py`` drives gRPC with a Python grpc.aio client, which on two shared cores costs
~0.3 ms of CPU per call beside the server's ~1 ms: its p99 is the client's as much as the
server's. Here nghttp2's ``h2load`` (C) sends the same Open Inference Protocol ``ModelInfer``
calls (gRPC framing over HTTP/2, ``content-type: application/grpc``) on one connection with
``c`` streams in flight, to mlsys and to Seldon MLServer, and every call's time comes from its
``--log-file`` (h2load's own summary has no percentiles). h2load sends one body per run, so each server answers one flight over and over
(a flight mlsys looks up and logs every time; MLServer gets its encoded row). A gRPC error comes
with HTTP status 200 and a ``grpc-status`` trailer h2load does not read, so the answers' bytes
are counted: a call answered with less than a whole ModelInferResponse is an error.

Needs ``h2load`` (Debian: ``apt-get install nghttp2-client``). The last line is one JSON object:
``mlsys_grpc_h2load`` and ``mlserver_grpc_h2load``, each ``{c1,c8,c32}`` of ``rps``, ``p50_ms``,
``p99_ms``, ``errors``, and the load average.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from _mlserver import grpc_body, mlserver_of
from _serving_common import (
    CONCURRENCY,
    bench_arguments,
    booster_rows,
    mlsys_serve,
    prepare_world,
    v2_grpc_body,
)

from mlsys_assets.processes import free_ports

PATH = "/inference.GRPCInferenceService/ModelInfer"


def answer_size(port: int, body: bytes) -> int:
    """The bytes of one whole answer to ``body`` (a ModelInferResponse with a probability)."""
    import grpc

    from serving.v2.proto import open_inference_grpc_pb2 as pb

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        raw = channel.unary_unary(PATH)(body, timeout=30)
    answer = pb.ModelInferResponse.FromString(raw)
    assert answer.outputs and (answer.raw_output_contents or answer.outputs[0].contents), answer
    return len(raw)


def h2load(port: int, body: bytes, size: int, streams: int, seconds: float) -> dict[str, float]:
    """``streams`` calls in flight on one connection for ``seconds`` (after a 1-s warm-up);
    ``size``: the bytes of one whole answer on the wire."""
    work = Path(tempfile.mkdtemp(prefix="h2load-"))
    try:
        (work / "body").write_bytes(b"\x00" + struct.pack(">I", len(body)) + body)
        # A 1-s warm-up run, then the measured one (h2load's own warm-up option counts the
        # warm-up's bytes in its traffic line, which the error count below reads).
        for duration, log in ((1.0, work / "warm-up"), (seconds, work / "log")):
            done = subprocess.run(
                [
                    "h2load", "-c1", f"-m{streams}", f"-D{duration:g}", "-d", str(work / "body"),
                    "-H", "content-type: application/grpc", "-H", "te: trailers",
                    f"--log-file={log}", f"http://127.0.0.1:{port}{PATH}",
                ],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        rows = [line.split("\t") for line in (work / "log").read_text().splitlines()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    latency = np.array([int(row[2]) for row in rows]) / 1000.0
    # "traffic: 4.11MB (4308100) total, 16.93KB (17340) headers (...), 3.82MB (4005480) data"
    traffic = next(line for line in done.stdout.splitlines() if line.startswith("traffic:"))
    data = int(traffic.rsplit("(", 1)[1].split(")", 1)[0])
    whole = round(data / size)  # answers are the same flight's: the same size, give or take
    return {
        "rps": round(len(latency) / seconds, 1),
        "p50_ms": round(float(np.percentile(latency, 50)), 2),
        "p99_ms": round(float(np.percentile(latency, 99)), 2),
        "errors": max(len(latency) - whole, 0) + sum(row[1] != "200" for row in rows),
        "requests": len(latency),
    }


def levels(port: int, body: bytes, seconds: float) -> dict[str, dict[str, float]]:
    size = 5 + answer_size(port, body)  # gRPC frames a message with 5 bytes
    out = {}
    for streams in CONCURRENCY:
        out[f"c{streams}"] = h2load(port, body, size, streams, seconds)
        print(f"  c{streams:<3} {out[f'c{streams}']}", flush=True)
    return out


def main() -> None:
    args = bench_arguments(__doc__.splitlines()[0]).parse_args()
    if shutil.which("h2load") is None:
        raise SystemExit("h2load is not installed (Debian: apt-get install nghttp2-client)")

    world = prepare_world(args.home)
    results: dict[str, object] = {"model_version": world.champion}
    http, grpc_port = free_ports(2)
    alone = {"MLSYS_LOOP__CANARY_SHARE": "0", "MLSYS_LOOP__CANARY_SHADOW": "false"}
    body = v2_grpc_body(world.requests[0])  # no request id: each call is its own request
    with mlsys_serve(world.home, http, grpc_port, **alone):
        print(f"mlsys gRPC (champion v{world.champion}) with h2load", flush=True)
        results["mlsys_grpc_h2load"] = levels(grpc_port, body, args.duration)

    if not args.skip_mlserver:
        booster, rows = booster_rows(world)
        with mlserver_of(booster) as (_, grpc_port):
            body = grpc_body(rows[0])
            print("MLServer gRPC with h2load", flush=True)
            results["mlserver_grpc_h2load"] = levels(grpc_port, body, args.duration)

    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
