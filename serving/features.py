"""The request's features: one online-store read per batch, or request-time features when the
store is down.

Serving never computes a stored feature itself: the feature layer's
``lookup_online_feature_columns`` returns every feature of the service (stale or absent ones as
None), so imputation is the training-time one (a missing value, which XGBoost routes as it
learned). If the store cannot be read, the request-time features still come from the same
feature code, every stored feature is missing, and the answer says ``online_store_unavailable``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsys_assets.clock import utc_now
from mlsys_assets.features.catalog import SERVED
from mlsys_assets.features.online import lookup_online_feature_columns
from mlsys_assets.features.request import request_feature_columns
from mlsys_assets.prediction_log_contract import feature_time as contract_feature_time
from mlsys_assets.resources.backends import build_online_store
from mlsys_assets.resources.online_store import OnlineStore, SQLiteOnlineStore
from mlsys_assets.settings import Settings

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = "online_store_unavailable"
FILE_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class FeatureBatch:
    """What the model receives for a batch of flights, feature by feature.

    A value is None exactly when it is missing (stale, absent, or the store down): the model
    gets it as missing, which is how training imputed it.
    """

    columns: dict[str, list[Any]]  # feature (service order) -> one value per flight
    store_ok: bool

    def missing_names(self) -> list[list[str]]:
        """Each flight's missing features, sorted by name (column-wise: a few C scans)."""
        count = len(next(iter(self.columns.values()), ()))
        out: list[list[str]] = [[] for _ in range(count)]
        for name in sorted(self.columns):
            column = self.columns[name]
            if None in column:
                for i in [i for i, v in enumerate(column) if v is None]:
                    out[i].append(name)
        return out


class FeatureSource:
    """Online features for requests, resilient to the store being down, removed or replaced."""

    def __init__(self, store: OnlineStore) -> None:
        self.store = store
        self._stored_names = [f.name for f in SERVED.features if f not in SERVED.request]
        self._file = Path(store.path) if isinstance(store, SQLiteOnlineStore) else None
        self._inode: int | None = _inode(self._file)
        self._file_ok = self._file is None or self._inode is not None
        self._checked_at = time.monotonic()
        self._check_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FeatureSource:
        """The online store the settings name (SQLite by default, Redis in production)."""
        return cls(build_online_store(settings))

    def lookup(
        self, flights: Sequence[Mapping[str, Any]], now: dt.datetime | None = None
    ) -> FeatureBatch:
        """Features of normalized flights, each at its own feature time, in one store read.

        ``now`` (naive UTC, default the clock) is when the request is answered: the caller logs
        it, so monitoring can tell the exact feature time of every prediction.
        """
        if self._store_file_ok():
            try:
                return self._lookup_store(flights, now or utc_now())
            except Exception as exc:  # noqa: BLE001 - any store failure: request features only
                logger.warning("online store lookup failed: %s", exc)
        return self._request_only(flights)

    def _lookup_store(self, flights: Sequence[Mapping[str, Any]], now: dt.datetime) -> FeatureBatch:
        moments = [feature_time(flight["scheduled_departure"], now) for flight in flights]
        found = lookup_online_feature_columns(
            self.store, flights, moments, service=SERVED, normalized=True
        )
        return FeatureBatch(found.columns, True)

    def _request_only(self, flights: Sequence[Mapping[str, Any]]) -> FeatureBatch:
        columns = request_feature_columns(flights)
        for name in self._stored_names:
            columns[name] = [None] * len(flights)
        return FeatureBatch(columns, False)

    def ready(self) -> bool:
        """The store answers a read (and, for SQLite, its file is there)."""
        if not self._store_file_ok(force=True):
            return False
        try:
            self.store.read_state()
        except Exception:  # noqa: BLE001 - not ready is the answer
            return False
        return True

    def state(self) -> dict[str, str]:
        """The store's state entries (freshness, watermarks); empty when its file is missing
        (reading would create an empty store where the real one should appear)."""
        if not self._store_file_ok(force=True):
            return {}
        return self.store.read_state()

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def _store_file_ok(self, force: bool = False) -> bool:
        """For SQLite: the file exists; a replaced file is reopened (old handles see the old one)."""
        if self._file is None:
            return True
        now = time.monotonic()
        if not force and now - self._checked_at < FILE_CHECK_SECONDS:
            return self._file_ok
        with self._check_lock:
            self._checked_at = now
            inode = _inode(self._file)
            if inode is not None and self._inode is not None and inode != self._inode:
                logger.info("online store file replaced; reopening %s", self._file)
                self.close()
            self._inode = inode
            self._file_ok = inode is not None
        return self._file_ok


def feature_time(scheduled_departure: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """The feature time of a request made ``now`` (``prediction_log_contract.feature_time``)."""
    return contract_feature_time(scheduled_departure, now or utc_now())


def _inode(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
