"""Soak test: one mlsys serve worker held at a constant request rate (default 200/s, 10 minutes).

Passes with zero errors and resident memory at the end within 10% of that after the first
minute (for runs shorter than two minutes: after the first half). Latency is counted from each
request's scheduled send time, so a server falling behind cannot hide it.

With ``--protocol grpc`` the same flights go as Open Inference Protocol v2 ModelInfer calls to
the gRPC port `mlsys serve` opens beside HTTP (raw input contents, as tritonclient sends them).

    python benchmarks/soak_serving.py [--home MLSYS_HOME] [--rate 200] [--duration 600]
        [--protocol rest|grpc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from _serving_common import (
    dumps,
    grpc_open_loop,
    http_request,
    mlsys_serve,
    open_loop,
    prepare_world,
    rss_kb,
    v2_grpc_body,
)

from mlsys_assets.processes import free_ports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="an MLSYS_HOME with a champion (default: build one)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    args = parser.parse_args()

    world = prepare_world(args.home)
    port, grpc_port = free_ports(2)
    reference_at = 60.0 if args.duration >= 120 else args.duration / 2
    samples: list[tuple[float, int]] = []
    with mlsys_serve(world.home, port, grpc_port) as process:
        flights = [f | {"request_id": f"soak-{i}"} for i, f in enumerate(world.requests)]
        payloads = [http_request("/predict", dumps(f)) for f in flights]
        begin = time.perf_counter()

        async def sample_memory() -> None:
            while (elapsed := time.perf_counter() - begin) < args.duration:
                samples.append((elapsed, rss_kb(process.pid)))
                await asyncio.sleep(5.0)
            samples.append((time.perf_counter() - begin, rss_kb(process.pid)))

        if args.protocol == "grpc":
            result = grpc_open_loop(
                grpc_port,
                [v2_grpc_body(f) for f in flights],
                args.rate,
                args.duration,
                args.connections,
                on_tick=sample_memory,
            )
        else:
            result = open_loop(
                port, payloads, args.rate, args.duration, args.connections, on_tick=sample_memory
            )
    summary = result.summary()
    reference = next((kb for t, kb in samples if t >= reference_at), samples[-1][1])
    final = samples[-1][1]
    growth = (final - reference) / reference if reference else 0.0
    ok = summary["errors"] == 0 and abs(growth) <= 0.10
    achieved = summary["requests"] / args.duration
    report = {
        "protocol": args.protocol,
        "rate_target": args.rate,
        "rate_achieved": round(achieved, 1),
        "duration_s": args.duration,
        **summary,
        "rss_reference_kb": reference,
        "rss_reference_at_s": reference_at,
        "rss_final_kb": final,
        "rss_growth": round(growth, 4),
        "passed": ok,
    }
    for t, kb in samples[:: max(1, len(samples) // 12)]:
        print(f"  t={t:6.1f}s rss={kb / 1024:.1f} MiB")
    print(json.dumps(report))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
