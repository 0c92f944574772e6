"""The weather event stream on Redis Streams, with consumer groups.

Each event is one stream entry with id ``<offset>-0`` and a single field ``p`` (the JSON
payload), so the offset-addressed ``EventStream`` contract maps onto Redis directly: ``read`` is
an ``XRANGE`` after the consumer's own cursor (ingestion keeps that cursor in the warehouse, in
the same transaction as the rows), ``append`` is one Lua script that numbers and adds a whole
batch atomically (readers see all of it or none).

The consumer group is the stream-side record of what was processed. ``read_group`` delivers
through ``XREADGROUP``: entries a consumer received but never acknowledged (it crashed between
read and ack) stay in the group's pending list and are delivered again, first, on its next
call; entries of a consumer that is gone are claimed after ``claim_idle_ms``. ``ack`` acknowledges
everything up to an offset (``XACK``) and moves the group past it, which is what ``XINFO GROUPS``
lag and trimming rely on. Nothing is lost: an entry leaves the pending list only when acked.
Nothing is doubled downstream: the warehouse keys events by offset (and the cursor), so a
redelivered event is recognised, never inserted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis
from pydantic import Field, PrivateAttr

from mlsys_assets.resources.event_stream import (
    EventStream,
    StreamEvent,
    decode_event,
    encode_event,
)
from mlsys_assets.resources.redis_client import RedisConnection

# Number a batch after the stream's last generated id (which survives trimming) and add it.
_APPEND = """
local last = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last = tonumber(string.match(info[i + 1], '^(%d+)'))
    end
  end
end
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], string.format('%d-0', last + i), 'p', ARGV[i])
end
return last + 1
"""
_PAGE = 5_000


def _offset(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


class RedisEventStream(RedisConnection, EventStream):
    """Redis Streams behind the ``EventStream`` ABC; see the module docstring."""

    url: str = Field(description="redis://host:port/db of the server.")
    prefix: str = Field(default="mlsys:", description="Namespace of every key mlsys writes.")
    claim_idle_ms: int = Field(
        default=60_000, description="Pending entries of another consumer idle this long are taken."
    )
    socket_timeout_seconds: float = 5.0

    _client: redis.Redis | None = PrivateAttr(default=None)

    def key(self, topic: str) -> str:
        return f"{self.prefix}stream:{topic}"

    def _event(self, topic: str, entry_id: str, fields: Mapping[str, str] | None) -> StreamEvent:
        if not fields or "p" not in fields:
            return StreamEvent(
                _offset(entry_id), {}, f"{topic}/{entry_id}", "entry has no payload field 'p'", ""
            )
        payload, error, raw = decode_event(fields["p"])
        return StreamEvent(_offset(entry_id), payload, f"{topic}/{entry_id}", error, raw)

    # ------------------------------------------------------------------ offset-addressed API
    def append(self, topic: str, payloads: Sequence[Mapping[str, Any]]) -> list[int]:
        if not payloads:
            return []
        encoded = [encode_event(p) for p in payloads]
        first = int(self.client().eval(_APPEND, 1, self.key(topic), *encoded))
        return list(range(first, first + len(payloads)))

    def read(self, topic: str, after: int, limit: int | None = None) -> list[StreamEvent]:
        client, key = self.client(), self.key(topic)
        events: list[StreamEvent] = []
        start = f"{after + 1}-0"
        while limit is None or len(events) < limit:
            page = _PAGE if limit is None else min(_PAGE, limit - len(events))
            entries = client.xrange(key, min=start, max="+", count=page)
            events += [self._event(topic, entry_id, fields) for entry_id, fields in entries]
            if len(entries) < page:
                break
            start = f"{events[-1].offset + 1}-0"
        return events

    def last_offset(self, topic: str) -> int:
        try:
            info = self.client().xinfo_stream(self.key(topic))
        except redis.ResponseError:  # no such key: an empty topic
            return 0
        return _offset(str(info["last-generated-id"]))

    # -------------------------------------------------------------------- consumer groups
    def ensure_group(self, topic: str, group: str) -> None:
        """Create ``group`` at the start of the stream (idempotent; creates the stream too)."""
        try:
            self.client().xgroup_create(self.key(topic), group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _group(self, topic: str, group: str) -> dict[str, Any] | None:
        try:
            groups = self.client().xinfo_groups(self.key(topic))
        except redis.ResponseError:
            return None
        return next((g for g in groups if g["name"] == group), None)

    def read_group(
        self, topic: str, group: str, consumer: str, limit: int | None = None
    ) -> list[StreamEvent]:
        """Unacknowledged events for ``consumer``: its own pending ones again first (a crash
        between read and ack), then pending ones of consumers idle past ``claim_idle_ms``,
        then new ones. Each stays pending until ``ack``."""
        client, key = self.client(), self.key(topic)
        self.ensure_group(topic, group)
        count = limit or _PAGE
        own = client.xreadgroup(group, consumer, {key: "0"}, count=count)
        entries = own[0][1] if own else []
        if not entries:
            _next, claimed, *_ = client.xautoclaim(
                key, group, consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=count
            )
            entries = claimed
        if not entries:
            new = client.xreadgroup(group, consumer, {key: ">"}, count=count)
            entries = new[0][1] if new else []
        return [self._event(topic, entry_id, fields) for entry_id, fields in entries]

    def ack(self, topic: str, group: str, offset: int) -> None:
        """Acknowledge every event up to ``offset`` and move the group past it (never back)."""
        client, key = self.client(), self.key(topic)
        self.ensure_group(topic, group)
        while True:
            pending = client.xpending_range(key, group, min="-", max=f"{offset}-0", count=_PAGE)
            if not pending:
                break
            client.xack(key, group, *(p["message_id"] for p in pending))
        info = self._group(topic, group)
        if info is not None and _offset(str(info["last-delivered-id"])) < offset:
            client.xgroup_setid(key, group, id=f"{offset}-0")

    def acked(self, topic: str, group: str) -> int:
        """Everything before the group's oldest pending event, else its last delivered one."""
        info = self._group(topic, group)
        if info is None:
            return 0
        if int(info["pending"]):
            summary = self.client().xpending(self.key(topic), group)
            return _offset(str(summary["min"])) - 1
        return _offset(str(info["last-delivered-id"]))

    def groups(self, topic: str) -> list[str]:
        try:
            return sorted(str(g["name"]) for g in self.client().xinfo_groups(self.key(topic)))
        except redis.ResponseError:  # no such key: no groups
            return []

    def trim(self, topic: str, upto: int) -> int:
        """``XTRIM MINID``: entries before ``upto + 1``. Redis keeps the last generated id
        whatever is trimmed, so offsets continue."""
        if upto <= 0:
            return 0
        try:
            return int(
                self.client().xtrim(self.key(topic), minid=f"{upto + 1}-0", approximate=False)
            )
        except redis.ResponseError:  # no such key
            return 0

    def pending(self, topic: str, group: str) -> int:
        """How many delivered events ``group`` has not acknowledged yet."""
        info = self._group(topic, group)
        return 0 if info is None else int(info["pending"])

    def clear(self, topic: str) -> None:
        """Delete the topic and its groups (tests)."""
        self.client().delete(self.key(topic))
