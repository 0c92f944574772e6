"""A V2 client nobody in this project wrote (tritonclient, http and grpc) gets /predict's answers
from `mlsys serve`, over REST and gRPC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mlsys_assets.processes import child_environment, free_ports
from tests.serving.serve_process import ServeProcess
from tests.serving.world import World, next_day_requests

CLIENT = Path(__file__).with_name("triton_client.py")


@pytest.mark.slow  # a server process and a client process: about 25 s
def test_tritonclient_gets_predicts_answers_over_rest_and_grpc(
    world: World, tmp_path: Path
) -> None:
    port, grpc_port = free_ports(2)
    server = ServeProcess(world, tmp_path, port=port, serving__grpc_port=str(grpc_port))
    server.wait_ready()
    try:
        flights = [
            f | {"request_id": f"tc-{i}"} for i, f in enumerate(next_day_requests(world, 30))
        ]
        expected = [httpx.post(f"{server.url}/predict", json=f).json() for f in flights]
        (tmp_path / "flights.json").write_text(json.dumps(flights))
        run = subprocess.run(
            [
                sys.executable,
                str(CLIENT),
                f"127.0.0.1:{server.port}",
                f"127.0.0.1:{grpc_port}",
                str(tmp_path / "flights.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=child_environment(),
        )
        assert run.returncode == 0, run.stderr[-3000:]
        got = json.loads(run.stdout)
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    assert got["http_live"] and got["grpc_live"] and got["http_ready"] and got["grpc_ready"]
    assert set(got["grpc_versions"]) == {world.champion, world.challenger}
    assert {e["variant"] for e in expected} == {"champion", "challenger"}
    for protocol in ("http", "grpc", "grpc_batch"):
        for answer, want in zip(got[protocol], expected, strict=True):
            assert answer["request_id"] == want["request_id"]
            assert answer["delay_probability"] == pytest.approx(want["delay_probability"], abs=1e-9)
            assert answer["delayed"] == want["delayed"]
            assert answer["variant"] == want["variant"]
            assert answer["model_version"] == want["model_version"]
    assert got["grpc_error"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "missing input" in got["grpc_error"]["message"]
    assert 'endpoint="grpc:ModelInfer",status="OK"' in metrics
    assert 'endpoint="grpc:ModelInfer",status="INVALID_ARGUMENT"' in metrics
    assert 'endpoint="/v2/models/flight_delay/infer",status="200"' in metrics
