"""A downstream consumer of the ``decisions`` stream: every answered decision, exactly once.

Serving publishes each answer on topic ``decisions`` keyed by its request id
(``idempotency_key``). The follower reads through a consumer group (the file log's committed
cursor, or Redis Streams' group with its pending list), writes each batch into its own SQLite
sink keyed by that id in one transaction, and acks after the commit. A follower killed between
the commit and the ack is delivered the batch again when it restarts and resumes from its cursor;
the key turns the redelivered decisions into no-ops, so the sink holds each decision once.
``deliveries`` counts every decision received, duplicates included, to show they happened.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from mlsys_assets.resources.event_stream import EventStream

TOPIC = "decisions"
DEFAULT_GROUP = "downstream"


class DecisionFollower:
    """Follows ``decisions`` for one consumer group into a SQLite table keyed by request id."""

    def __init__(
        self,
        stream: EventStream,
        sink: Path,
        group: str = DEFAULT_GROUP,
        consumer: str = "follower-1",
    ) -> None:
        self.stream = stream
        self.group = group
        self.consumer = consumer
        sink.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(sink)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS decisions (
                idempotency_key TEXT PRIMARY KEY, offset INTEGER, payload TEXT);
            CREATE TABLE IF NOT EXISTS stats (name TEXT PRIMARY KEY, value INTEGER);
            INSERT OR IGNORE INTO stats VALUES ('deliveries', 0), ('bad', 0);
            """
        )
        self.db.commit()

    def poll(self, limit: int = 5_000) -> int:
        """Apply the next batch (at most ``limit``), then ack it; returns how many arrived."""
        import json

        events = self.stream.read_group(TOPIC, self.group, self.consumer, limit)
        if not events:
            return 0
        good = [e for e in events if e.ok and e.payload.get("idempotency_key")]
        with self.db:  # one transaction: the rows and the counts
            self.db.executemany(
                "INSERT OR IGNORE INTO decisions VALUES (?, ?, ?)",
                [(e.payload["idempotency_key"], e.offset, json.dumps(e.payload)) for e in good],
            )
            self.db.execute(
                "UPDATE stats SET value = value + ? WHERE name = 'deliveries'", (len(good),)
            )
            self.db.execute(
                "UPDATE stats SET value = value + ? WHERE name = 'bad'", (len(events) - len(good),)
            )
        self.stream.ack(TOPIC, self.group, events[-1].offset)  # after the commit
        return len(events)

    def follow(self, poll_seconds: float = 0.05, until: float | None = None) -> None:
        """Poll until stopped (Ctrl-C, SIGTERM) or ``until`` (a ``time.monotonic()`` moment)."""
        while until is None or time.monotonic() < until:
            if not self.poll():
                time.sleep(poll_seconds)

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def deliveries(self) -> int:
        row = self.db.execute("SELECT value FROM stats WHERE name = 'deliveries'").fetchone()
        return int(row[0])

    def close(self) -> None:
        self.db.close()
