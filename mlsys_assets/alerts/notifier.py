"""One message per new failure, one when it clears: the webhook notifier and its memory.

A failing check evaluated every day would otherwise page someone every day for the same
problem. Each alert has a ``key`` (``check:feature_drift:drift_share``,
``segment:carrier=UA``, ``run:retrain``); the notifier remembers which keys are open in a small
SQLite file under ``MLSYS_HOME/alerts`` (shared by run workers and the daemon's sensors, which
are separate processes), sends when a key opens and sends a recovery message when an open key
resolves. A delivery that fails leaves the key open but unsent, so the next evaluation retries.

The body is Slack's incoming-webhook JSON (``text`` plus a ``blocks`` section), which Slack,
Mattermost, Rocket.Chat and most chat bridges accept as is. Without ``MLSYS_BACKENDS__ALERT_WEBHOOK_URL``
alerts are recorded only (and logged).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlsys_assets.settings import Settings

logger = logging.getLogger(__name__)

WARN, ERROR = "warn", "error"
RANK = {WARN: 1, ERROR: 2}
FIRING, RESOLVED = "firing", "resolved"
DDL = """CREATE TABLE IF NOT EXISTS alerts (
    key TEXT PRIMARY KEY, severity TEXT NOT NULL, title TEXT NOT NULL, detail TEXT,
    link TEXT, status TEXT NOT NULL, opened_at TEXT, resolved_at TEXT, last_seen_at TEXT,
    notified INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0)"""


@dataclass(frozen=True)
class Alert:
    """Something that fails: ``key`` names it (one open alert per key)."""

    key: str
    severity: str  # warn | error
    title: str
    detail: str = ""
    link: str | None = None


def slack_body(alert: Alert, state: str) -> dict:
    """Slack's incoming-webhook body: a ``text`` fallback and one mrkdwn section."""
    mark = {FIRING: ":red_circle: FIRING", RESOLVED: ":white_check_mark: RESOLVED"}[state]
    cleared = "cleared: " if state == RESOLVED else ""
    lines = [f"{mark} [{alert.severity.upper()}] {cleared}{alert.title}", f"key: `{alert.key}`"]
    if alert.detail and state == FIRING:
        lines.append(alert.detail)
    if alert.link:
        lines.append(f"<{alert.link}|open the report>")
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


class Notifier:
    """Fire and resolve alerts by key; deliver each transition once to the webhook."""

    def __init__(
        self,
        state_path: Path,
        webhook_url: str | None = None,
        min_severity: str = WARN,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.state_path = state_path
        self.webhook_url = webhook_url
        self.min_rank = RANK[min_severity]
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(
            settings.home_dir / "alerts" / "alerts.sqlite",
            settings.alert_webhook,
            settings.monitoring.alert_min_severity,
            settings.monitoring.alert_timeout_seconds,
        )

    def _connect(self) -> sqlite3.Connection:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.state_path, timeout=30, isolation_level=None)
        conn.execute(DDL)
        return conn

    def fire(self, alert: Alert) -> bool:
        """Open ``alert`` (or keep it open); True when a message was delivered now."""
        if RANK.get(alert.severity, 0) < self.min_rank:
            return False
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT status, notified FROM alerts WHERE key = ?", [alert.key]
            ).fetchone()
            now = _now()
            if row is not None and row[0] == FIRING:
                conn.execute("UPDATE alerts SET last_seen_at = ? WHERE key = ?", [now, alert.key])
                send = not row[1]  # a delivery that failed is retried
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO alerts (key, severity, title, detail, link, status, "
                    "opened_at, last_seen_at, notified, sent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, "
                    "COALESCE((SELECT sent FROM alerts WHERE key = ?), 0))",
                    [alert.key, alert.severity, alert.title, alert.detail, alert.link, FIRING,
                     now, now, alert.key],
                )  # fmt: skip
                send = True
            if send:
                conn.execute("UPDATE alerts SET notified = 1 WHERE key = ?", [alert.key])
            conn.execute("COMMIT")
        finally:
            conn.close()
        return self._deliver(alert, FIRING) if send else False

    def resolve(self, key: str) -> bool:
        """Close ``key`` if open; True when a recovery message was delivered."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT status, notified, severity, title, link FROM alerts WHERE key = ?", [key]
            ).fetchone()
            if row is None or row[0] != FIRING:
                conn.execute("COMMIT")
                return False
            conn.execute(
                "UPDATE alerts SET status = ?, resolved_at = ? WHERE key = ?",
                [RESOLVED, _now(), key],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        if not row[1]:  # nobody was told it failed: nobody needs to hear it cleared
            return False
        return self._deliver(Alert(key, row[2], row[3], link=row[4]), RESOLVED)

    def sync(self, prefix: str, failing: Iterable[Alert]) -> None:
        """Fire every alert of ``failing`` and resolve every open key under ``prefix`` not in it."""
        failing = list(failing)
        for alert in failing:
            self.fire(alert)
        keep = {a.key for a in failing}
        for key in self.open_keys(prefix):
            if key not in keep:
                self.resolve(key)

    def open_keys(self, prefix: str = "") -> list[str]:
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT key FROM alerts WHERE status = ? AND key LIKE ? ORDER BY key",
                [FIRING, prefix.replace("%", r"\%") + "%"],
            ).fetchall()
        finally:
            conn.close()
        return [r[0] for r in rows]

    def _deliver(self, alert: Alert, state: str) -> bool:
        if not self.webhook_url:
            logger.warning("alert %s %s: %s (no webhook set)", state, alert.key, alert.title)
            return False
        import httpx

        try:
            response = httpx.post(
                self.webhook_url, json=slack_body(alert, state), timeout=self.timeout_seconds
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning(
                # a Slack hook's secret is its path: the host only is shown
                "alert %s not delivered to %s: %s",
                alert.key,
                urlsplit(self.webhook_url).netloc,
                exc,
            )
            if state == FIRING:
                self._mark_unsent(alert.key)
            return False
        self._count_sent(alert.key)
        return True

    def _mark_unsent(self, key: str) -> None:
        conn = self._connect()
        try:
            conn.execute("UPDATE alerts SET notified = 0 WHERE key = ?", [key])
        finally:
            conn.close()

    def _count_sent(self, key: str) -> None:
        conn = self._connect()
        try:
            conn.execute("UPDATE alerts SET sent = sent + 1 WHERE key = ?", [key])
        finally:
            conn.close()
