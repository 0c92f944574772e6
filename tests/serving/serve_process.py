"""``mlsys serve`` as a real process on a test world: started, killed (SIGKILL) or stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mlsys_assets.processes import child_environment, free_port
from tests.serving.conftest import ADMIN_TOKEN
from tests.serving.world import World

MLSYS = str(Path(sys.executable).parent / "mlsys")


class ServeProcess:
    """``mlsys serve --workers N`` on ``world``'s MLSYS_HOME, in its own process group."""

    def __init__(
        self, world: World, cwd: Path, workers: int = 1, port: int | None = None, **settings: str
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = child_environment() | {
            "MLSYS_HOME": str(world.settings.home_dir),
            "MLSYS_BACKENDS__ADMIN_TOKEN": ADMIN_TOKEN,
            "MLSYS_LOOP__CANARY_SHARE": str(world.settings.loop.canary_share),
            "MLSYS_SERVING__POLL_SECONDS": "3600",  # reloads are explicit
        }
        env |= {f"MLSYS_{k.upper()}": v for k, v in settings.items()}
        self.log = cwd / f"serve-{self.port}.log"
        argv = [MLSYS, "serve", "--port", str(self.port), "--workers", str(workers)]
        with self.log.open("ab") as out:  # cwd: no .env of the repository is read
            self.popen = subprocess.Popen(
                [*argv, "--log-level", "warning"],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120.0) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while True:
            assert self.popen.poll() is None, f"mlsys serve exited: {self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"not ready: {self.log.read_text()[-3000:]}"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to every process of the server (no shutdown code runs)."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        """A graceful stop (SIGTERM): uvicorn drains and the lifespan flushes the logs."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
