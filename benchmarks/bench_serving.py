"""Serving benchmark: mlsys serve vs `mlflow models serve` and Seldon MLServer, same booster.

Every server runs on 127.0.0.1 with its default single worker; the same flights are sent at
concurrency 1, 8 and 32. mlsys gets the flight and does the online feature lookup, the
prediction log, the rules and the decisions stream, over its own REST (`mlsys`), the Open
Inference Protocol v2 over REST (`mlsys_v2_rest`) and gRPC (`mlsys_grpc`), and with
`explain=true` at c8 (`explain_c8_rps`). MLflow gets each flight's feature values, looked up
beforehand, and runs the registered pyfunc. MLServer (`mlserver` + `mlserver-xgboost` in its own
venv, benchmarks/_mlserver.py, adaptive batching on) gets the encoded feature row the booster
receives, over V2 REST (`mlserver_v2_rest`) and gRPC (`mlserver_grpc`). Every peer must answer
the same probability for the same flight, which is checked first. Then a 1,000-flight batch.
mlsys is measured without a challenger (``mlsys``: canary share 0, no shadow scoring) and with
one (``mlsys_challenger``: the default canary share 0.1 and shadow scoring of every champion
answer by the challenger). What a challenger costs at c8 is then measured in alternating rounds
of three servers (``--rounds``), so a busy machine slows them alike: alone, with shadow scoring
only (share 0: every request still answered by the champion, the challenger scores it in the
background) and with the challenger in canary too. ``shadow_cost_c8`` is 1 - CPU per request
alone / with shadow scoring only (each server's own CPU time, robust to the machine's other load),
the cost the shadow target is about; ``challenger_cost_c8`` the same with the canary share on
top (a micro-batch holding a challenger request makes a second booster call); the ``_rps``
figures are the median rps ratios.
Targets on 2 cores: mlsys p99 < 10 ms at c8 (REST) and < 8 ms (gRPC), >= 4x MLflow's and
>= 2x MLServer's throughput at c8 over the same protocol, explain c8 >= 60% of /predict's,
batch1000 < 50 ms, shadow_cost_c8 <= 0.10. The last line printed is one JSON object with every figure.

    python benchmarks/bench_serving.py [--home MLSYS_HOME] [--duration 8] [--skip-mlflow]
        [--skip-mlserver] [--rounds 3]
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _mlserver import grpc_body, mlserver_of, rest_body
from _serving_common import (
    CONCURRENCY,
    LoadResult,
    bench_arguments,
    booster_rows,
    closed_loop,
    dumps,
    grpc_closed_loop,
    http_request,
    mlflow_rows,
    mlflow_serve,
    mlsys_serve,
    prepare_world,
    v2_grpc_body,
    v2_rest_body,
)

from mlsys_assets.processes import free_port, free_ports

Loop = Callable[[int, list[bytes], int, float], LoadResult]
PARITY = 50  # flights whose answers every peer must agree on


def measure(
    port: int, payloads: list[bytes], duration: float, loop: Loop = closed_loop
) -> dict[str, dict[str, float]]:
    loop(port, payloads, 8, 2.0)  # warm-up
    out = {}
    for concurrency in CONCURRENCY:
        summary = loop(port, payloads, concurrency, duration).summary()
        out[f"c{concurrency}"] = summary
        print(f"  c{concurrency:<3} {summary}", flush=True)
    return out


def batch_ms(port: int, flights: list[dict[str, object]], repeats: int = 15) -> float:
    body = dumps({"flights": flights[:1000]})
    timings = []
    for _ in range(repeats + 2):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict/batch",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        # The server's latency: request sent to the whole answer received (the client's own
        # parsing of 1,000 answers, about 4 ms, is not the server's).
        timings.append((time.perf_counter() - started) * 1000.0)
        assert len(json.loads(raw)["predictions"]) == len(flights[:1000])
    return round(float(np.median(timings[2:])), 2)


def answers(port: int, path: str, bodies: list[bytes], key: str) -> list[float]:
    out = []
    for body in bodies:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if key == "outputs":  # V2: the first output, or the one named delay_probability
            found = {o["name"]: o["data"] for o in answer["outputs"]}
            out.append(float(found.get("delay_probability", answer["outputs"][0]["data"])[0]))
        else:
            out.append(float(answer[key][0] if key == "predictions" else answer[key]))
    return out


def grpc_answers(port: int, bodies: list[bytes]) -> list[float]:
    """The delay probability of each serialized ModelInferRequest (raw or typed output)."""
    import grpc

    from serving.v2.proto import open_inference_grpc_pb2 as pb

    out = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        for body in bodies:
            answer = infer(body, timeout=30)
            names = [o.name for o in answer.outputs]
            index = names.index("delay_probability") if "delay_probability" in names else 0
            if answer.raw_output_contents:
                raw = answer.raw_output_contents[index]
                dtype = "<f4" if answer.outputs[index].datatype == "FP32" else "<f8"
                out.append(float(np.frombuffer(raw, dtype=dtype)[0]))
            else:
                contents = answer.outputs[index].contents
                out.append(float((contents.fp64_contents or contents.fp32_contents)[0]))
    return out


def agree(name: str, theirs: list[float], ours: list[float]) -> None:
    worst = float(np.max(np.abs(np.array(theirs) - np.array(ours))))
    print(
        f"  {name}: same answers as mlsys /predict on {len(ours)} flights: max |diff| {worst:.2e}"
    )
    if worst > 1e-5:
        raise SystemExit(f"{name} and mlsys disagree: not the same model, not comparable")


SERVERS = (
    "mlsys",
    "mlsys_challenger",
    "mlflow",
    "mlsys_v2_rest",
    "mlsys_grpc",
    "mlserver_v2_rest",
    "mlserver_grpc",
)


def table(results: dict[str, object], ours: str, peer: str) -> None:
    mine, theirs = results[ours], results.get(peer) or {}
    print(
        f"{'':6}{ours + ' rps':>18}{'p50':>8}{'p99':>8}   {peer + ' rps':>20}{'p50':>8}{'p99':>8}  ratio"
    )
    for level in (f"c{c}" for c in CONCURRENCY):
        a = mine[level]  # type: ignore[index]
        b = theirs.get(level) if isinstance(theirs, dict) else None
        right = (
            f"{b['rps']:>20}{b['p50_ms']:>8}{b['p99_ms']:>8}  {a['rps'] / b['rps']:.1f}x"
            if b
            else ""
        )
        print(f"{level:6}{a['rps']:>18}{a['p50_ms']:>8}{a['p99_ms']:>8}   {right}")
    print()


def cpu_seconds(group: int) -> float:
    """User + system CPU seconds of every process in a process group (a server and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


SIDES = ("alone", "shadow", "challenger")  # the servers of shadow_rounds, in this order


def shadow_rounds(
    servers: tuple[int, ...], ports: tuple[int, ...], payloads: list[bytes], duration: float,
    rounds: int,
) -> dict[str, object]:  # fmt: skip
    """c8 alone, with shadow scoring only and with the challenger in canary, alternating.

    Throughput on a shared machine moves with everyone else's load, so each cost is also taken
    from each server's own CPU time per answered request (at saturation throughput is its
    inverse): 1 - CPU per request alone / CPU per request with the challenger's work.
    """
    rps: dict[str, list[float]] = {side: [] for side in SIDES}
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    p99: dict[str, list[float]] = {side: [] for side in SIDES}
    for number in range(rounds):
        for side, server, port in zip(SIDES, servers, ports, strict=True):
            before = cpu_seconds(server)
            summary = closed_loop(port, payloads, 8, duration).summary()
            used = cpu_seconds(server) - before
            rps[side].append(summary["rps"])
            cpu[side].append(round(1e6 * used / max(summary["requests"], 1), 1))
            p99[side].append(summary["p99_ms"])
        print(
            f"  round {number + 1}: c8 rps (us CPU/request) "
            + ", ".join(f"{side} {rps[side][-1]} ({cpu[side][-1]})" for side in SIDES),
            flush=True,
        )
    out: dict[str, object] = {}
    for side in SIDES:
        out[f"c8_rps_{side}"] = rps[side]
        out[f"c8_cpu_us_{side}"] = cpu[side]
        if side != "alone":
            out[f"c8_p99_ms_{side}"] = p99[side]
    for side in SIDES[1:]:
        cost = 1.0 - float(np.median(cpu["alone"])) / float(np.median(cpu[side]))
        ratio = 1.0 - float(np.median(np.array(rps[side]) / np.array(rps["alone"])))
        out[f"{side}_cost_c8"] = round(cost, 4)
        out[f"{side}_cost_c8_rps"] = round(ratio, 4)
        print(
            f"  {side} cost at c8: {cost:.1%} of throughput by CPU per request "
            f"({ratio:.1%} by the median rps ratio of {rounds} alternating rounds)"
        )
    return out


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternating c8 shadow rounds")
    args = parser.parse_args()

    world = prepare_world(args.home)
    flights = world.requests
    while len(flights) < 1000:
        flights = flights + world.requests
    results: dict[str, object] = {"model_version": world.champion}

    port, shadow_port, canary_port, grpc_port = free_ports(4)
    print(f"mlsys serve (champion v{world.champion}) on 127.0.0.1:{port}, gRPC :{grpc_port}")
    alone = {"MLSYS_LOOP__CANARY_SHARE": "0", "MLSYS_LOOP__CANARY_SHADOW": "false"}
    shadow_only = {"MLSYS_LOOP__CANARY_SHARE": "0", "MLSYS_LOOP__CANARY_SHADOW": "true"}
    with_challenger = {"MLSYS_LOOP__CANARY_SHARE": "0.1", "MLSYS_LOOP__CANARY_SHADOW": "true"}
    with (
        mlsys_serve(world.home, port, grpc_port, **alone) as server,
        mlsys_serve(world.home, shadow_port, **shadow_only) as shadow_server,
        mlsys_serve(world.home, canary_port, **with_challenger) as canary_server,
    ):
        with_ids = [f | {"request_id": f"bench-{i}"} for i, f in enumerate(world.requests)]
        payloads = [http_request("/predict", dumps(f)) for f in with_ids]
        parity = PARITY
        mlsys_answers = answers(
            port, "/predict", [dumps(f) for f in world.requests[:parity]], "delay_probability"
        )
        results["mlsys"] = measure(port, payloads, args.duration)
        results["batch1000_ms"] = batch_ms(port, flights)
        print(f"  batch of 1000: {results['batch1000_ms']} ms (median)", flush=True)
        infer_path = "/v2/models/flight_delay/infer"
        agree(
            "mlsys V2 REST",
            answers(
                port, infer_path, [v2_rest_body(f) for f in world.requests[:parity]], "outputs"
            ),
            mlsys_answers,
        )
        print("mlsys Open Inference Protocol v2, REST", flush=True)
        v2_payloads = [http_request(infer_path, v2_rest_body(f)) for f in with_ids]
        results["mlsys_v2_rest"] = measure(port, v2_payloads, args.duration)

        grpc_payloads = [v2_grpc_body(f) for f in with_ids]
        agree(
            "mlsys gRPC",
            grpc_answers(grpc_port, [v2_grpc_body(f) for f in world.requests[:parity]]),
            mlsys_answers,
        )
        print("mlsys Open Inference Protocol v2, gRPC", flush=True)
        results["mlsys_grpc"] = measure(grpc_port, grpc_payloads, args.duration, grpc_closed_loop)

        explained = [http_request("/predict?explain=true", dumps(f)) for f in with_ids]
        closed_loop(port, explained, 8, 2.0)  # warm-up
        explain = closed_loop(port, explained, 8, args.duration).summary()
        results["explain_c8_rps"] = explain["rps"]
        results["explain_c8"] = explain
        print(f"  /predict?explain=true c8 {explain}", flush=True)
        print(f"mlsys serve with a challenger in canary and shadow on :{canary_port}", flush=True)
        results["mlsys_challenger"] = measure(canary_port, payloads, args.duration)
        results.update(
            shadow_rounds(
                (server.pid, shadow_server.pid, canary_server.pid),
                (port, shadow_port, canary_port),
                payloads,
                args.duration,
                args.rounds,
            )
        )

    if not args.skip_mlflow:
        columns, rows = mlflow_rows(world)
        port = free_port()
        print(f"mlflow models serve (v{world.champion}) on 127.0.0.1:{port}", flush=True)
        with mlflow_serve(world.home, world.champion, port):
            payloads = [
                http_request(
                    "/invocations", dumps({"dataframe_split": {"columns": columns, "data": [row]}})
                )
                for row in rows
            ]
            bodies = [
                dumps({"dataframe_split": {"columns": columns, "data": [row]}})
                for row in rows[:parity]
            ]
            agree("mlflow", answers(port, "/invocations", bodies, "predictions"), mlsys_answers)
            results["mlflow"] = measure(port, payloads, args.duration)

    if not args.skip_mlserver:
        booster, rows = booster_rows(world)
        with mlserver_of(booster) as (http, grpc_port):
            print(
                f"MLServer (v{world.champion}) on 127.0.0.1:{http}, gRPC :{grpc_port}", flush=True
            )
            infer_path = "/v2/models/flight_delay/infer"
            agree(
                "MLServer V2 REST",
                answers(http, infer_path, [rest_body(r) for r in rows[:parity]], "outputs"),
                mlsys_answers,
            )
            agree(
                "MLServer gRPC",
                grpc_answers(grpc_port, [grpc_body(r) for r in rows[:parity]]),
                mlsys_answers,
            )
            print("MLServer Open Inference Protocol v2, REST", flush=True)
            rest_payloads = [http_request(infer_path, rest_body(r)) for r in rows]
            results["mlserver_v2_rest"] = measure(http, rest_payloads, args.duration)
            print("MLServer Open Inference Protocol v2, gRPC", flush=True)
            results["mlserver_grpc"] = measure(
                grpc_port, [grpc_body(r) for r in rows], args.duration, grpc_closed_loop
            )

    print()
    for ours, peer in (
        ("mlsys", "mlflow"),
        ("mlsys_v2_rest", "mlserver_v2_rest"),
        ("mlsys_grpc", "mlserver_grpc"),
    ):
        table(results, ours, peer)
    print(f"batch1000_ms {results['batch1000_ms']}")
    c8 = results["mlsys"]["c8"]["rps"]  # type: ignore[index]
    print(
        f"explain_c8_rps {results['explain_c8_rps']} ({results['explain_c8_rps'] / c8:.0%} of /predict c8)"
    )
    errors = {
        f"{server}.{level}": figures["errors"]
        for server in SERVERS
        for level, figures in (results.get(server) or {}).items()  # type: ignore[union-attr]
        if figures["errors"]
    }
    if errors:
        print(f"ERRORS (failed answers): {errors}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
