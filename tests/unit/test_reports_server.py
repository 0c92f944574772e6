"""The report server: the reports folder over HTTP, read-only, nothing outside it."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from mlsys_assets.reports_server import make_server


def test_reports_are_served_and_nothing_else(tmp_path: Path) -> None:
    reports = tmp_path / "home" / "reports"
    (reports / "drift").mkdir(parents=True)
    (reports / "drift" / "drift_2013-04-02.html").write_text("<html>drift</html>")
    (tmp_path / "home" / "warehouse.duckdb").write_text("secret rows")
    server = make_server(reports, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = httpx.get(f"{base}/drift/drift_2013-04-02.html")
        assert page.status_code == 200 and page.text == "<html>drift</html>"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["content-type"].startswith("text/html")
        escape = httpx.get(f"{base}/../warehouse.duckdb")
        assert escape.status_code == 404
        assert httpx.get(f"{base}/%2e%2e/warehouse.duckdb").status_code == 404
        assert httpx.post(f"{base}/drift/drift_2013-04-02.html").status_code == 405
    finally:
        server.shutdown()
        server.server_close()
