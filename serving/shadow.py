"""Shadow scoring: the challenger scores the flights the champion answered, logged, never returned.

The canary verdict (``mlsys_assets/registry/verdict.py``) compares both models on the *same*
flights; this gives it the challenger's probability and decision for every champion answer,
from the feature columns serving already looked up (no second lookup), logged as variant
``shadow`` with the answer's request id.

Rows are scored in batches of up to ``batch_rows`` (or after ``max_wait_seconds``, or at a
graceful stop), not once per micro-batch: XGBoost's fixed cost per call (encoding and the
C call, some hundreds of microseconds on a busy two-core machine) is many times a row's trees,
and a micro-batch under load holds a handful of requests, so per-request shadow calls would
cost far more than the trees. Nothing here touches an answer: a failure is logged and the
rows dropped. A crash loses the shadow rows not yet scored (at most ``max_wait_seconds``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlsys_assets.clock import utc_now
from mlsys_assets.features.request import REQUEST_FIELDS
from mlsys_assets.scoring.predictor import ModelBundle
from mlsys_assets.scoring.rules import THRESHOLD_RULE, BusinessRule, decide
from serving.prediction_log import ParquetLog
from serving.routing import SHADOW

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    """Champion-answered flights waiting for the challenger, column by column."""

    columns: dict[str, list[Any]]
    flights: list[dict[str, Any]]
    request_ids: list[str]
    missing: list[list[str]]
    endpoint: list[str]
    requested_at: list[dt.datetime]

    def __len__(self) -> int:
        return len(self.request_ids)


class ShadowScorer:
    """Buffers champion-answered flights and scores them with the challenger in batches."""

    def __init__(
        self,
        log: ParquetLog,
        model_name: str,
        rules: Sequence[BusinessRule],
        *,
        batch_rows: int = 64,
        max_wait_seconds: float = 1.0,
    ) -> None:
        self.log = log
        self.model_name = model_name
        self.rules = tuple(rules)
        self.batch_rows = batch_rows
        self.max_wait_seconds = max_wait_seconds
        self._lock = threading.Lock()
        self._model: ModelBundle | None = None
        self._pending: _Pending | None = None
        self._queued = threading.Event()  # rows are waiting: the flusher's clock starts
        self._closed = False
        self._flusher: threading.Thread | None = None

    def add(
        self,
        challenger: ModelBundle,
        columns: dict[str, list[Any]],
        flights: list[dict[str, Any]],
        request_ids: list[str],
        missing: list[list[str]],
        rows: list[int],
        endpoint: str,
        now: dt.datetime,
    ) -> None:
        """Queue flights ``rows`` of a scored call (their feature columns, as the champion got
        them); scores the queue when it is full or holds another challenger's rows."""
        if not rows:
            return
        ready: list[tuple[ModelBundle, _Pending]] = []
        with self._lock:
            if self._model is not None and self._model is not challenger:
                ready.append(self._take())  # the challenger changed: score the old rows first
            pending = self._pending
            if pending is None:
                pending = self._pending = _Pending(
                    {name: [] for name in columns}, [], [], [], [], []
                )
                self._queued.set()
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_loop, name="shadow-flusher", daemon=True
                    )
                    self._flusher.start()
            self._model = challenger
            if len(rows) == len(request_ids):  # every flight (no canary row): whole columns
                for name, column in columns.items():
                    pending.columns.setdefault(name, []).extend(column)
                pending.flights.extend(flights)
                pending.request_ids.extend(request_ids)
                pending.missing.extend(missing)
            else:
                for name, column in columns.items():
                    pending.columns.setdefault(name, []).extend([column[i] for i in rows])
                pending.flights.extend(flights[i] for i in rows)
                pending.request_ids.extend(request_ids[i] for i in rows)
                pending.missing.extend(missing[i] for i in rows)
            pending.endpoint.extend([endpoint] * len(rows))
            pending.requested_at.extend([now] * len(rows))
            if len(pending) >= self.batch_rows:
                ready.append(self._take())
        for model, batch in ready:
            self._score(model, batch)

    def flush(self) -> None:
        """Score whatever is queued now (the timer, a graceful stop)."""
        with self._lock:
            ready = self._take() if self._pending is not None else None
        if ready is not None:
            self._score(*ready)

    def close(self) -> None:
        """Score what is queued and stop the flusher (a graceful stop loses no shadow row)."""
        self._closed = True
        self._queued.set()
        if self._flusher is not None:
            self._flusher.join(timeout=10)
        self.flush()

    def _flush_loop(self) -> None:
        """One thread for the scorer's life: rows queued wait at most ``max_wait_seconds``."""
        while not self._closed:
            self._queued.wait()
            if self._closed:
                return
            time.sleep(self.max_wait_seconds)
            self._queued.clear()
            self.flush()

    def _take(self) -> tuple[ModelBundle, _Pending]:
        """The queue and its model, emptied (call with the lock held)."""
        assert self._model is not None and self._pending is not None
        taken = (self._model, self._pending)
        self._model, self._pending = None, None
        return taken

    def _score(self, challenger: ModelBundle, batch: _Pending) -> None:
        count = len(batch)
        try:
            found = challenger.predict_matrix(
                challenger.encode_columns(batch.columns, range(count))
            )
        except Exception:  # noqa: BLE001 - a shadow failure never touches the answers
            logger.exception(
                "shadow scoring of %d flights by v%s failed", count, challenger.version
            )
            return
        probabilities = np.clip(found, 0.0, 1.0).tolist()
        if self.rules:
            decided = [
                decide(p, challenger.threshold, flight, self.rules)
                for p, flight in zip(probabilities, batch.flights, strict=True)
            ]
            delayed, rule = [d for d, _ in decided], [r for _, r in decided]
        else:
            delayed = [p >= challenger.threshold for p in probabilities]
            rule = [THRESHOLD_RULE] * count
        out: dict[str, Any] = {
            "request_id": batch.request_ids,
            "delay_probability": probabilities,
            "delayed": delayed,
            "rule": rule,
            "threshold": [challenger.threshold] * count,
            "model_name": [self.model_name] * count,
            "model_version": [challenger.version] * count,
            "variant": [SHADOW] * count,
            "missing_features": batch.missing,
            "fallbacks": [[] for _ in range(count)],
            "requested_at": batch.requested_at,
            "logged_at": [utc_now()] * count,
            "endpoint": batch.endpoint,
        }
        for name in REQUEST_FIELDS:
            out[name] = [flight[name] for flight in batch.flights]
        self.log.append_columns(out, count)
