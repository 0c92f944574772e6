"""The online feature store on Redis: one string per key, one ``MGET`` per flight lookup.

Each record is stored as ``"<event_us>|<valid_to_us>|<payload>"`` under ``<prefix>online:<key>``
so that a whole flight (every view's key) is one ``MGET``: one round trip on the serving hot
path, whatever the number of views. Writes go through one Lua script per batch, which Redis runs
atomically: rows and materialization state become visible together (the SQLite transaction's
guarantee) and an older event never overwrites a newer one (compared inside the script).

TTL is enforced twice. The reader (``lookup_online_features``) judges staleness against the
request time, exactly as offline. Redis also expires each key ``ttl`` after it was written: as the
write happens after the event, a key expires no earlier than the reader would call it stale, so
expiry only drops values nobody may serve, and it bounds memory for entities that disappear.
Views without a TTL (SCD2 reference data) and the state hash never expire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis
from pydantic import Field, PrivateAttr

from mlsys_assets.resources.online_store import OnlineRecord, OnlineRow, OnlineStore
from mlsys_assets.resources.redis_client import RedisConnection

# KEYS[1] = state hash, KEYS[2..n+1] = row keys.
# ARGV = n, then per row (event_us, value, ttl_ms; 0 = no expiry), then m, then per state entry
# (name, op, value) with op "set" or "del".
_WRITE = """
local n = tonumber(ARGV[1])
local i = 2
for r = 1, n do
  local key, ev, value, ttl = KEYS[r + 1], tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local current = redis.call('GET', key)
  local newer = true
  if current then
    local sep = string.find(current, '|', 1, true)
    newer = tonumber(string.sub(current, 1, sep - 1)) <= ev
  end
  if newer then
    if ttl > 0 then
      redis.call('SET', key, value, 'PX', ttl)
    else
      redis.call('SET', key, value)
    end
  end
end
local m = tonumber(ARGV[i])
i = i + 1
for s = 1, m do
  if ARGV[i + 1] == 'del' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
  i = i + 3
end
return n
"""


def encode_record(event_us: int, valid_to_us: int | None, payload: str) -> str:
    """The stored string of one record (the payload may itself contain ``|``)."""
    return f"{event_us}|{'' if valid_to_us is None else valid_to_us}|{payload}"


def decode_record(value: str) -> OnlineRecord:
    event, valid_to, payload = value.split("|", 2)
    return int(event), (int(valid_to) if valid_to else None), payload


class RedisOnlineStore(RedisConnection, OnlineStore):
    """Redis (or any server speaking its protocol) as the online store; see the module doc."""

    url: str = Field(description="redis://host:port/db of the server.")
    prefix: str = Field(default="mlsys:", description="Namespace of every key mlsys writes.")
    view_ttl_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="Key expiry per feature view (the view's TTL); views not listed never expire.",
    )
    socket_timeout_seconds: float = 2.0

    _client: redis.Redis | None = PrivateAttr(default=None)

    @property
    def _state_key(self) -> str:
        return f"{self.prefix}online_state"

    def _key(self, key: str) -> str:
        return f"{self.prefix}online:{key}"

    def _ttl_ms(self, key: str) -> int:
        ttl = self.view_ttl_seconds.get(key.split(":", 1)[0])
        return 0 if ttl is None else max(1, int(ttl * 1000))

    def write_batch(
        self, rows: Sequence[OnlineRow], state: Mapping[str, str | None] | None = None
    ) -> int:
        keys = [self._state_key, *(self._key(row.key) for row in rows)]
        args: list[str | int] = [len(rows)]
        for row in rows:
            args += [
                row.event_us,
                encode_record(row.event_us, row.valid_to_us, row.payload),
                self._ttl_ms(row.key),
            ]
        entries = list((state or {}).items())
        args.append(len(entries))
        for name, value in entries:
            args += [name, "del", ""] if value is None else [name, "set", value]
        self.client().eval(_WRITE, len(keys), *keys, *args)
        return len(rows)

    def read(self, keys: Sequence[str]) -> list[OnlineRecord | None]:
        if not keys:
            return []
        values = self.client().mget([self._key(k) for k in keys])
        return [None if v is None else decode_record(v) for v in values]

    def read_state(self) -> dict[str, str]:
        return dict(self.client().hgetall(self._state_key))

    def count(self) -> int:
        """Number of stored (unexpired) keys; a SCAN, for metadata only, not the hot path."""
        return sum(1 for _ in self.client().scan_iter(match=f"{self.prefix}online:*", count=1000))

    def clear(self) -> int:
        """Delete every key of this prefix's store (tests, and ``rm -rf`` for Redis)."""
        client = self.client()
        deleted = 0
        batch: list[str] = []
        for key in client.scan_iter(match=f"{self.prefix}online:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
        return deleted + client.delete(self._state_key)
