"""Seldon MLServer as a serving peer: its own venv, the champion's booster, adaptive batching.

MLServer (``mlserver`` + ``mlserver-xgboost``) is installed into ``benchmarks/.venv-mlserver``
(created here on first use, never into mlsys's environment), with the XGBoost mlsys trains with,
so the booster file loads and scores identically. Its model repository holds the champion's
booster as ``model.ubj``; MLServer gets each flight's encoded feature row (the same values
mlsys's booster receives after its feature lookup), as one FP64 tensor ``[1, features]``, over
the Open Inference Protocol's REST and gRPC. Adaptive batching is on (``max_batch_size`` 32,
``max_batch_time`` 1 ms); everything else is MLServer's default (one inference worker process).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import xgboost
from _serving_common import server

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv-mlserver"
# uvloop 0.22 made asyncio.get_event_loop() raise outside a loop, which MLServer 1.7.1's
# inference workers call at start: they die at once with a newer one.
PACKAGES = (
    "mlserver==1.7.1",
    "mlserver-xgboost==1.7.1",
    f"xgboost=={xgboost.__version__}",
    "uvloop<0.22",
)
MODEL = "flight_delay"
MAX_BATCH_SIZE = 32
MAX_BATCH_TIME = 0.001  # seconds


def ensure_env() -> Path:
    """The MLServer venv (created once, with uv when it is at hand); its ``mlserver`` binary."""
    binary = VENV / "bin" / "mlserver"
    if binary.exists():
        return binary
    uv = Path(sys.executable).parent / "uv"
    print(f"creating {VENV} for MLServer ({', '.join(PACKAGES)}) ...", flush=True)
    if uv.exists():
        subprocess.run([str(uv), "venv", str(VENV), "--python", sys.executable], check=True)
        install = [str(uv), "pip", "install", "--python", str(VENV / "bin" / "python")]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        install = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*install, *PACKAGES], check=True)
    return binary


def model_repository(
    work: Path, booster: xgboost.Booster, http: int, grpc: int, metrics: int
) -> Path:
    """A model repository with the booster, the server's ports and adaptive batching."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "settings.json").write_text(
        json.dumps(
            {
                "http_port": http,
                "grpc_port": grpc,
                "metrics_port": metrics,
                "host": "127.0.0.1",
                "debug": False,
            }
        )
    )
    model_dir = work / MODEL
    model_dir.mkdir(exist_ok=True)
    booster.save_model(str(model_dir / "model.ubj"))
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "mlserver_xgboost.XGBoostModel",
                "parameters": {"uri": "./model.ubj"},
                "max_batch_size": MAX_BATCH_SIZE,
                "max_batch_time": MAX_BATCH_TIME,
            }
        )
    )
    return work


def mlserver_serve(work: Path, http: int) -> contextlib.AbstractContextManager:
    binary = ensure_env()
    return server(
        [str(binary), "start", str(work)],
        {"PATH": f"{binary.parent}:/usr/bin:/bin"},
        f"http://127.0.0.1:{http}/v2/models/{MODEL}/ready",
    )


@contextlib.contextmanager
def mlserver_of(booster: xgboost.Booster) -> Iterator[tuple[int, int]]:
    """MLServer serving ``booster`` from a fresh model repository on free ports: (REST, gRPC)."""
    from mlsys_assets.processes import free_ports

    http, grpc, metrics = free_ports(3)
    work = model_repository(
        Path(tempfile.mkdtemp(prefix="mlserver-")), booster, http, grpc, metrics
    )
    with mlserver_serve(work, http):
        yield http, grpc


def rest_body(row: Sequence[float]) -> bytes:
    """One flight's feature row as a V2 REST body (a missing value as "NaN": MLServer parses
    JSON with orjson, which has no NaN token, and numpy reads the string as NaN)."""
    data = ["NaN" if value != value else value for value in row]
    body = {
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, len(row)], "data": data}]
    }
    return json.dumps(body, separators=(",", ":")).encode()


def grpc_body(row: Sequence[float]) -> bytes:
    """One flight's feature row as a serialized ``ModelInferRequest`` (fp64 contents)."""
    from serving.v2.proto import open_inference_grpc_pb2 as pb

    request = pb.ModelInferRequest(model_name=MODEL)
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[1, len(row)])
    tensor.contents.fp64_contents.extend(row)
    return request.SerializeToString()
