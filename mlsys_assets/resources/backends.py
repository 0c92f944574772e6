"""Which backend each external system runs on, picked by settings (the embedded default or Redis).

The factories live here, not beside the base classes, so ``online_store.py`` and
``event_stream.py`` define only the interfaces and their embedded implementations and never
import their own Redis subclasses. What the data needs of a backend (the Redis online store's
per-view TTLs) is handed in by the caller: ``resources`` sits below ``features``.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlsys_assets.resources.event_stream import EventStream, FileEventStream
from mlsys_assets.resources.online_store import OnlineStore, SQLiteOnlineStore
from mlsys_assets.settings import Settings


def build_online_store(
    settings: Settings,
    redis_url: str | None = None,
    view_ttl_seconds: Mapping[str, float] | None = None,
) -> OnlineStore:
    """The online store chosen by ``settings.backends.online_store``: ``sqlite`` (default) or ``redis``.

    ``redis_url`` overrides the settings' URL (Dagster's resources pass an ``EnvVar``). Redis
    expires each key its view's TTL (``view_ttl_seconds``, from ``features.catalog``) after
    the write; a process that only reads may leave it out.
    """
    if settings.backends.online_store == "sqlite":
        return SQLiteOnlineStore(path=str(settings.online_store_path))
    from mlsys_assets.resources.redis_online_store import RedisOnlineStore

    return RedisOnlineStore(
        url=redis_url or settings.redis,
        prefix=settings.backends.redis_prefix,
        view_ttl_seconds=dict(view_ttl_seconds or {}),
    )


def build_event_stream(settings: Settings, redis_url: str | None = None) -> EventStream:
    """The stream chosen by ``MLSYS_BACKENDS__EVENT_STREAM``: ``file`` (embedded default) or ``redis``.

    ``redis_url`` overrides the settings' URL (Dagster's resources pass an ``EnvVar``).
    """
    if settings.backends.event_stream == "file":
        return FileEventStream(root=str(settings.landing_dir / "events"))
    from mlsys_assets.resources.redis_event_stream import RedisEventStream

    return RedisEventStream(url=redis_url or settings.redis, prefix=settings.backends.redis_prefix)
