"""Fixtures of the backend integration tests: real PostgreSQL and Redis, or a clear skip.

The servers come from ``make services`` (``scripts/services.sh``); ``MLSYS_TEST_PG_URL`` and
``MLSYS_TEST_REDIS_URL`` point elsewhere. Each test gets its own databases (created and dropped
here) and its own Redis key prefix, so tests never see each other's state. The embedded-default
parameters (``sqlite``, ``file``) of the same tests need no server and always run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import lru_cache

import pytest
import redis
import sqlalchemy as sa
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceUrls(BaseSettings):
    """Where the test servers are (the defaults are those of scripts/services.sh)."""

    model_config = SettingsConfigDict(env_prefix="MLSYS_TEST_", extra="ignore")

    pg_url: str = "postgresql+psycopg://postgres@127.0.0.1:55432/mlsys_test"
    redis_url: str = "redis://127.0.0.1:56379/0"


URLS = ServiceUrls()
_HOW = "start them with `make services` (or point MLSYS_TEST_PG_URL / MLSYS_TEST_REDIS_URL)"


def _libpq(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def redis_problem() -> str | None:
    """Why Redis cannot be used (None when it answers)."""
    try:
        client = redis.Redis.from_url(URLS.redis_url, socket_connect_timeout=1, socket_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return f"Redis not reachable at {URLS.redis_url} ({exc.__class__.__name__}); {_HOW}"
    return None


@lru_cache(maxsize=1)
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it answers)."""
    import psycopg

    try:
        with psycopg.connect(_libpq(sa.make_url(URLS.pg_url)), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, OSError) as exc:
        return f"PostgreSQL not reachable at {URLS.pg_url} ({exc.__class__.__name__}); {_HOW}"
    return None


def require(*services: str) -> None:
    """Skip the calling test, with the reason, unless every named service answers."""
    for service in services:
        problem = {"redis": redis_problem, "postgres": postgres_problem}[service]()
        if problem:
            pytest.skip(problem)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    require("redis")
    prefix = f"mlsys-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(URLS.redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def pg_database() -> Iterator[Callable[[str], str]]:
    """``make(purpose) -> SQLAlchemy URL`` of a fresh, empty database, dropped after the test."""
    import psycopg

    require("postgres")
    base = sa.make_url(URLS.pg_url)
    admin = _libpq(base)
    created: list[str] = []

    def make(purpose: str) -> str:
        name = f"mlsys_it_{uuid.uuid4().hex[:8]}_{purpose}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
