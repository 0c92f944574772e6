"""/docs and /redoc render their operations in a real headless browser with the network off."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.serving.conftest import LiveServer

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    pytest.skip("no headless Chromium (apt-get install chromium)")


def render(browser: str, url: str) -> str:
    """The DOM after the page's scripts ran, with every host but 127.0.0.1 unreachable: names
    resolve to nothing and any other connection goes to a proxy that is not there."""
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_docs_and_redoc_render_without_internet(live: LiveServer) -> None:
    browser = _browser()
    page = render(browser, f"{live.url}/docs")
    assert "cdn.jsdelivr.net" not in page  # the assets come from this server
    for path in ("/predict", "/predict/batch", "/v2/models/{name}/infer", "/metrics"):
        assert f'data-path="{path}"' in page, f"Swagger UI did not render {path}"
    page = render(browser, f"{live.url}/redoc")
    assert "Score one flight" in page and "/v2/models/{name}/infer" in page
