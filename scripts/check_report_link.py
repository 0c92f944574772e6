"""One click on the Dagster asset page opens the drift report: checked in a headless Chromium.

    python scripts/check_report_link.py --dagster http://127.0.0.1:3000 [--asset feature_drift]

Needs a running Dagster webserver on a home whose ``feature_drift`` has been materialized (a
demo, or ``mlsys ui`` after a monitoring run), the report server (``mlsys reports``, started by
both) and ``chromium`` (``apt-get install -y chromium``). It opens the asset's page the way a
person does, waits for the UI to render, finds the metadata link to the drift report, clicks it,
and checks that the page it opens is the Evidently report, served over HTTP. Driven over the
Chrome DevTools Protocol with ``websockets`` (already installed): no browser-automation package.
Prints one JSON line; exits 1 when the link is missing or does not open the report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import httpx
from websockets.sync.client import connect

FIND_LINK = """[...document.querySelectorAll('a[href]')].map(a => a.href)
    .filter(h => h.includes('/drift/drift_') && h.startsWith('http'))"""
# Dagster greets a new browser profile with a "Join the Dagster community" dialog over the
# page; a person skips it once.
SKIP_WELCOME = """(() => { const b = [...document.querySelectorAll('button')]
    .find(b => b.textContent.trim() === 'Skip'); if (b) { b.click(); return true; }
    return false; })()"""
WHERE_LINK = """(() => { const a = [...document.querySelectorAll('a[href]')]
    .find(a => a.href.includes('/drift/drift_') && a.href.startsWith('http'));
    a.scrollIntoView({block: 'center'}); const r = a.getBoundingClientRect();
    return {x: r.left + r.width / 2, y: r.top + r.height / 2, target: a.target || '_self'}; })()"""


class Page:
    """A Chromium tab over the DevTools protocol: navigate and evaluate JavaScript."""

    def __init__(self, ws_url: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.ws = connect(ws_url, max_size=None, open_timeout=30)
        self.ids = itertools.count(1)

    def click(self, x: float, y: float) -> None:
        """A real left click (pressed, released) at viewport coordinates: a user gesture."""
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)  # fmt: skip

    def call(self, method: str, **params: Any) -> dict:
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == message_id:
                return reply.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dagster", default="http://127.0.0.1:3000")
    parser.add_argument("--asset", default="feature_drift")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print(json.dumps({"ok": False, "error": "no chromium (apt-get install -y chromium)"}))
        return 1
    port = free_port()
    profile = tempfile.mkdtemp(prefix="mlsys-chromium-")
    chromium = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    devtools = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{devtools}/json/version", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        asset_url = f"{args.dagster}/assets/{args.asset}"
        target = httpx.put(f"{devtools}/json/new?{asset_url}", timeout=10).json()
        page = Page(target["webSocketDebuggerUrl"])
        page.call("Page.enable")
        links = page.wait_for(FIND_LINK, args.timeout)
        if not links:
            print(json.dumps({"ok": False, "page": asset_url, "error": "no drift report link"}))
            return 1
        before = {t["id"] for t in httpx.get(f"{devtools}/json/list").json()}
        if page.wait_for(SKIP_WELCOME, 10):  # it shows a moment after the page
            time.sleep(0.5)
        where = page.evaluate(WHERE_LINK)
        time.sleep(0.5)  # the scroll settles
        where = page.evaluate(WHERE_LINK)
        opened_in = where["target"]
        page.click(where["x"], where["y"])  # the one click
        report_tab = None
        deadline = time.monotonic() + 30
        while report_tab is None and time.monotonic() < deadline:
            for tab in httpx.get(f"{devtools}/json/list").json():
                new = tab["id"] not in before or (
                    opened_in == "_self" and tab["id"] == target["id"]
                )
                if tab["type"] == "page" and new and "/drift/drift_" in tab["url"]:
                    report_tab = tab
            time.sleep(0.3)
        if report_tab is None:
            print(json.dumps({"ok": False, "link": links[0], "error": "the click opened nothing"}))
            return 1
        report = Page(report_tab["webSocketDebuggerUrl"])
        # Evidently's ValueDrift widgets: their data says "Drift score", the rendered page
        # shows the column names and "drift" once its scripts ran.
        evidently = report.wait_for(
            "document.readyState === 'complete' && document.documentElement.outerHTML"
            ".includes('Drift score') && document.body.innerText.toLowerCase().includes('drift')",
            args.timeout,
        )
        result = {"ok": bool(evidently), "page": asset_url, "link": links[0],
                  "opened": report_tab["url"], "opened_in": opened_in,
                  "evidently_report": bool(evidently)}  # fmt: skip
        print(json.dumps(result))
        return 0 if evidently else 1
    finally:
        chromium.terminate()
        chromium.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
