"""Shared by the serving benchmarks: a world to serve, servers to start, a load generator.

The load generator speaks HTTP/1.1 keep-alive over raw asyncio streams (no client library on
the hot path), so the 2 shared cores go to the servers, not to the client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test world builder lives in tests/serving/world.py
BIN = Path(sys.executable).parent
CONCURRENCY = (1, 8, 32)  # requests in flight at each level the serving benchmarks report


@dataclass
class World:
    home: Path
    champion: str
    requests: list[dict[str, object]]  # /predict bodies


def prepare_world(home: str | None) -> World:
    """An MLSYS_HOME with a champion and an online store (built in a temp dir if not given)."""
    from mlsys_assets.settings import Settings
    from tests.serving.world import World as TestWorld
    from tests.serving.world import build_world, next_day_requests

    if home is None:
        path = Path(tempfile.mkdtemp(prefix="mlsys-bench-")) / "home"
        print(f"building a world in {path} ...", flush=True)
        world = build_world(Settings(home=path))
    else:
        path = Path(home)
        from mlsys_assets.scoring.loading import RegistryReader

        settings = Settings(home=path)
        champion = RegistryReader(
            settings.tracking_uri, settings.registry.model_name
        ).alias_version("champion")
        if champion is None:
            raise SystemExit(f"no champion in {path}")
        world = TestWorld(settings, champion, "", dt.date(2013, 1, 22))
    requests = next_day_requests(world)
    return World(path, world.champion, requests)


def bench_arguments(description: str) -> argparse.ArgumentParser:
    """The options every serving benchmark takes (more may be added to the parser)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--home", help="an MLSYS_HOME with a champion (default: build one)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per level")
    parser.add_argument("--skip-mlserver", action="store_true")
    return parser


def mlflow_rows(world: World) -> tuple[list[str], list[list[object]]]:
    """The champion's input rows for the same flights (what `mlflow models serve` takes).

    The same online lookup mlsys does, done here once: MLflow gets each flight's feature
    values as the model signature states them (categoricals as strings, numerics as floats,
    null when missing), so its side of the benchmark is the model alone.
    """
    import pandas as pd

    bundle, found = feature_values(world)
    frame = bundle.spec.to_input_frame(pd.DataFrame(found))
    rows = [
        [None if value is None or value != value else value for value in row]
        for row in frame.itertuples(index=False)
    ]
    return bundle.feature_names, rows


def booster_rows(world: World) -> tuple[object, list[list[float]]]:
    """The champion's booster and, per flight, the encoded row it receives from mlsys (the
    same lookup, categoricals as the training category codes, NaN when missing)."""
    bundle, found = feature_values(world)
    return bundle.booster, bundle.encode_rows(found).tolist()


def feature_values(world: World) -> tuple[object, list[dict[str, object]]]:
    """The champion and each flight's feature values, looked up as mlsys serve does: the
    serving feature source itself (the single-flight ``lookup_online_features`` leaves the
    intraday features of flights_v2 missing, which serving computes from the day tables)."""
    from mlsys_assets.clock import utc_now
    from mlsys_assets.scoring.loading import RegistryReader
    from mlsys_assets.settings import Settings
    from serving.features import FeatureSource
    from serving.pipeline import flight_fields
    from serving.schemas import FlightRequest

    settings = Settings(home=world.home)
    bundle = RegistryReader(settings.tracking_uri, settings.registry.model_name).load(
        world.champion
    )
    source = FeatureSource.from_settings(settings)
    flights = [flight_fields(FlightRequest.model_validate(r)) for r in world.requests]
    columns = source.lookup(flights, utc_now()).columns
    source.close()
    found = [{name: column[i] for name, column in columns.items()} for i in range(len(flights))]
    return bundle, found


@contextlib.contextmanager
def server(
    argv: Sequence[str], env: dict[str, str], health_url: str, timeout: float = 240.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until ``health_url`` answers 200, stop it gracefully."""
    process = subprocess.Popen(
        list(argv),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"{argv[0]} exited: {err[-2000:]}")
            try:
                with urllib.request.urlopen(health_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{health_url} not ready after {timeout}s")
            time.sleep(0.25)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def mlsys_serve(
    home: Path, port: int, grpc_port: int = 0, **env: str
) -> contextlib.AbstractContextManager:
    return server(
        [
            str(BIN / "mlsys"),
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        {
            "MLSYS_HOME": str(home),
            "MLSYS_LOOP__CANARY_SHARE": "0",
            "MLSYS_SERVING__GRPC_PORT": str(grpc_port),
            **env,
        },
        f"http://127.0.0.1:{port}/ready",
    )


def mlflow_serve(home: Path, version: str, port: int) -> contextlib.AbstractContextManager:
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return server(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/flight_delay/{version}",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        {
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_REGISTRY_URI": uri,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",  # it execs `uvicorn`
        },
        f"http://127.0.0.1:{port}/ping",
    )


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn may fork), in KiB."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def summary(self) -> dict[str, float]:
        lat = np.array(self.latencies) * 1000.0
        return {
            "rps": round(len(lat) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else float("nan"),
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else float("nan"),
            "errors": self.errors,
            "requests": len(lat),
        }


def http_request(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _closed_loop(
    port: int, requests: Sequence[bytes], concurrency: int, duration: float
) -> LoadResult:
    result = LoadResult()
    stop_at = time.perf_counter() + duration

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while time.perf_counter() < stop_at:
                payload = requests[i % len(requests)]
                i += concurrency
                started = time.perf_counter()
                writer.write(payload)
                status, _ = await _read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                if status != 200:
                    result.errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def closed_loop(
    port: int, requests: Sequence[bytes], concurrency: int, duration: float
) -> LoadResult:
    """``concurrency`` keep-alive connections, each sending the next request on each answer."""
    return _run(_closed_loop(port, requests, concurrency, duration))


async def _open_loop(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    duration: float,
    connections: int,
    on_tick: object = None,
) -> LoadResult:
    result = LoadResult()
    interval = connections / rate
    begin = time.perf_counter()

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        next_at = begin + offset / rate
        try:
            while next_at < begin + duration:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                payload = requests[i % len(requests)]
                i += connections
                sent = time.perf_counter()
                try:
                    writer.write(payload)
                    status, _ = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    result.errors += 1
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                finally:
                    next_at += interval
                # latency counted from the scheduled time: a slow server cannot hide behind it
                result.latencies.append(time.perf_counter() - min(sent, next_at - interval))
                if status != 200:
                    result.errors += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(worker(i)) for i in range(connections)]
    if on_tick is not None:
        tasks.append(asyncio.create_task(on_tick()))  # type: ignore[operator]
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - begin
    return result


def open_loop(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    duration: float,
    connections: int = 8,
    on_tick: object = None,
) -> LoadResult:
    """A constant ``rate`` of requests/s spread over ``connections``, for ``duration`` s."""
    return _run(_open_loop(port, requests, rate, duration, connections, on_tick))


GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"


async def _grpc_loop(
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    duration: float,
    rate: float | None,
    on_tick: object = None,
) -> LoadResult:
    """Closed loop (``rate`` None: each worker sends on each answer) or open loop (``rate``
    requests/s over the workers, latency counted from the scheduled time)."""
    import grpc

    result = LoadResult()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        # No (de)serializers: the pre-serialized requests go as they are, answers stay bytes.
        infer = channel.unary_unary(GRPC_INFER)
        begin = time.perf_counter()
        stop_at = begin + duration

        async def worker(offset: int) -> None:
            i = offset
            next_at = begin + (offset / rate if rate else 0.0)
            while (next_at if rate else time.perf_counter()) < stop_at:
                if rate:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                payload = requests[i % len(requests)]
                i += concurrency
                sent = time.perf_counter()
                scheduled = next_at if rate else sent
                if rate:
                    next_at += concurrency / rate
                try:
                    await infer(payload, timeout=30)
                except grpc.aio.AioRpcError:
                    result.errors += 1
                result.latencies.append(time.perf_counter() - min(sent, scheduled))

        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        if on_tick is not None:
            tasks.append(asyncio.create_task(on_tick()))  # type: ignore[operator]
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - begin
    return result


def grpc_closed_loop(
    port: int, requests: Sequence[bytes], concurrency: int, duration: float
) -> LoadResult:
    """``concurrency`` calls in flight on one HTTP/2 channel, each sending on each answer."""
    return _run(_grpc_loop(port, requests, concurrency, duration, None))


def grpc_open_loop(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    duration: float,
    workers: int = 8,
    on_tick: object = None,
) -> LoadResult:
    """A constant ``rate`` of ModelInfer calls/s for ``duration`` s."""
    return _run(_grpc_loop(port, requests, workers, duration, rate, on_tick))


def v2_rest_body(flight: dict[str, object]) -> bytes:
    """A /predict body as an Open Inference Protocol v2 REST infer body (one flight)."""
    return dumps({"inputs": _v2_inputs(flight)})


def v2_grpc_body(flight: dict[str, object], model: str = "flight_delay") -> bytes:
    """A /predict body as a serialized ``ModelInferRequest`` with raw input contents (what
    tritonclient sends)."""
    import struct

    from serving.v2.proto import open_inference_grpc_pb2 as pb

    request = pb.ModelInferRequest(model_name=model)
    for tensor in _v2_inputs(flight):
        request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=[1])
        value = tensor["data"][0]
        if tensor["datatype"] == "BYTES":
            data = str(value).encode()
            request.raw_input_contents.append(struct.pack("<I", len(data)) + data)
        else:
            fmt = "<q" if tensor["datatype"] == "INT64" else "<d"
            request.raw_input_contents.append(struct.pack(fmt, value))
    return request.SerializeToString()


def _v2_inputs(flight: dict[str, object]) -> list[dict[str, object]]:
    types = {"flight": "INT64", "distance": "FP64"}
    return [
        {"name": name, "datatype": types.get(name, "BYTES"), "shape": [1], "data": [value]}
        for name, value in flight.items()
        if value is not None
    ]


def _run(coro: object) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
