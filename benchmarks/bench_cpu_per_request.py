"""Server CPU per request of /predict, V2 REST and V2 gRPC: one source tree against another.

Throughput on the 2 shared cores moves with everyone else's load; the server's own CPU time per
answered request (utime + stime of its process group, read before and after a closed-loop run,
as bench_serving's ``shadow_rounds``) moves much less. Two ``mlsys serve --workers 1``
processes, one per source tree (``PYTHONPATH``), take the same requests in alternating rounds,
so a busy machine slows both alike; the medians and the per-round ratio B/A are printed. Give
the same tree twice to see the spread alone.

    python benchmarks/bench_cpu_per_request.py --home MLSYS_HOME --a /work/main --b . \
        [--rounds 5] [--duration 5] [--concurrency 8] [--paths predict,v2_rest,grpc]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
from pathlib import Path

from _serving_common import (
    LoadResult,
    closed_loop,
    dumps,
    grpc_closed_loop,
    http_request,
    mlsys_serve,
    prepare_world,
    v2_grpc_body,
    v2_rest_body,
)
from bench_serving import cpu_seconds

from mlsys_assets.processes import free_ports

INFER = "/v2/models/flight_delay/infer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="an MLSYS_HOME with a champion (default: build one)")
    parser.add_argument("--a", required=True, help="source tree A (its PYTHONPATH)")
    parser.add_argument("--b", required=True, help="source tree B")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--paths", default="predict,v2_rest,grpc")
    args = parser.parse_args()

    world = prepare_world(args.home)
    flights = [f | {"request_id": f"bench-{i}"} for i, f in enumerate(world.requests)]
    bodies = {
        "predict": [http_request("/predict", dumps(f)) for f in flights],
        "v2_rest": [http_request(INFER, v2_rest_body(f)) for f in flights],
        "grpc": [v2_grpc_body(f) for f in flights],
    }
    paths = args.paths.split(",")
    trees = {"A": str(Path(args.a).resolve()), "B": str(Path(args.b).resolve())}
    ports = {side: tuple(free_ports(2)) for side in trees}
    cpu: dict[str, dict[str, list[float]]] = {s: {p: [] for p in paths} for s in trees}
    rps: dict[str, dict[str, list[float]]] = {s: {p: [] for p in paths} for s in trees}

    def run(side: str, path: str, duration: float) -> LoadResult:
        http, grpc = ports[side]
        if path == "grpc":
            return grpc_closed_loop(grpc, bodies[path], args.concurrency, duration)
        return closed_loop(http, bodies[path], args.concurrency, duration)

    with contextlib.ExitStack() as stack:
        servers = {
            side: stack.enter_context(
                mlsys_serve(
                    world.home, *ports[side], PYTHONPATH=tree, MLSYS_LOOP__CANARY_SHADOW="false"
                )
            )
            for side, tree in trees.items()
        }
        for side in trees:
            for path in paths:
                run(side, path, 2.0)  # warm-up
        for number in range(args.rounds):
            for path in paths:
                for side in ("A", "B") if number % 2 == 0 else ("B", "A"):
                    before = cpu_seconds(servers[side].pid)
                    summary = run(side, path, args.duration).summary()
                    used = cpu_seconds(servers[side].pid) - before
                    cpu[side][path].append(round(1e6 * used / max(summary["requests"], 1), 1))
                    rps[side][path].append(summary["rps"])
                    print(f"round {number + 1} {side} {path}: {cpu[side][path][-1]} us CPU/request, {summary}", flush=True)  # fmt: skip
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")
    for path in paths:
        a, b = cpu["A"][path], cpu["B"][path]
        ratios = sorted(round(y / x, 3) for x, y in zip(a, b, strict=True))
        print(
            f"{path:8} A {statistics.median(a)} us (of {a})  B {statistics.median(b)} us "
            f"(of {b})  B/A per round {ratios}"
        )
    print(json.dumps({"trees": trees, "cpu_us_per_request": cpu, "rps": rps}))


if __name__ == "__main__":
    main()
