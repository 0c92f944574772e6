"""``mlsys serve``: the online inference API under uvicorn."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--log-level", default="info", show_default=True)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Open Inference Protocol v2 gRPC port (default MLSYS_SERVING__GRPC_PORT, 8081; 0: off).",
)
def serve(
    host: str, port: int, workers: int, log_level: str, access_log: bool, grpc_port: int | None
) -> None:
    """Serve predictions of the registered champion (and challenger) over HTTP and gRPC."""
    import os

    import uvicorn

    from mlsys_assets.settings import get_settings
    from serving import multiprocess

    # The workers read their settings from the environment: gRPC binds the HTTP host.
    os.environ["MLSYS_SERVING__GRPC_HOST"] = host
    if grpc_port is not None:
        os.environ["MLSYS_SERVING__GRPC_PORT"] = str(grpc_port)
    settings = get_settings()  # fail fast on bad settings (e.g. prod without an admin token)
    if workers > 1:  # the workers' metrics merged into one /metrics
        multiprocess.enable(settings.home_dir)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=settings.serving.keep_alive_seconds,
    )
