"""``mlsys reports``: the monitoring reports over HTTP, so a click in the Dagster UI opens them.

A browser refuses a ``file://`` link from an ``http://`` page, so the Evidently drift reports
and the overview pictures under ``MLSYS_HOME/reports`` are served read-only by this small
server (started by ``mlsys ui`` and ``mlsys demo`` beside Dagster and MLflow), and the monitoring
assets' metadata links to ``MLSYS_MONITORING__REPORTS_HOST:MLSYS_MONITORING__REPORTS_PORT``. It is a separate process
rather than a route of the prediction API: the API is the latency-critical service clients call,
and operator reports have no business on it (nor its workers' time).
Only files under the reports folder are served (the standard library's handler resolves
``..`` and refuses to leave it), and nothing is cached, so the overview is always the newest.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from mlsys_assets.settings import get_settings


class ReportHandler(SimpleHTTPRequestHandler):
    """Static files of the reports folder, never cached, no access log on stderr."""

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass

    def _read_only(self) -> None:
        self.send_error(405, "reports are read-only")

    do_POST = do_PUT = do_DELETE = do_PATCH = _read_only  # noqa: N815 - http.server's names


def make_server(folder: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server of ``folder`` on ``host:port`` (port 0: any free one); call serve_forever."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(ReportHandler, directory=str(folder))
    return ThreadingHTTPServer((host, port), handler)


@click.command()
@click.option("--host", default=None, help="Default: MLSYS_MONITORING__REPORTS_HOST (127.0.0.1).")
@click.option(
    "--port", type=int, default=None, help="Default: MLSYS_MONITORING__REPORTS_PORT (8090)."
)
def reports(host: str | None, port: int | None) -> None:
    """Serve MLSYS_HOME/reports (drift reports, overview pictures) over HTTP until Ctrl-C."""
    settings = get_settings()
    server = make_server(
        settings.reports_dir,
        host or settings.monitoring.reports_host,
        port or settings.monitoring.reports_port,
    )
    click.echo(f"reports of {settings.reports_dir} on http://{server.server_address[0]}:"
               f"{server.server_address[1]}")  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
