"""The inference pipeline: features -> variant -> model -> business rules -> log, with fallbacks.

Every step that can fail has a next best answer, in this order, each counted by reason:
the online store down -> request-time features only; the chosen model failing to predict ->
the champion, then the previous champion; nothing usable -> the baseline (historical delay rate
per carrier and hour) as variant ``fallback``. A request therefore always gets a sound answer,
and the answer and its log record say which model, features and rule produced it.

Single and batch requests run the same code: a batch is scored with one feature read (each
flight at its own feature time) and one booster call per model; a single request is a batch of one.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlsys_assets.clock import utc_now
from mlsys_assets.features.request import calendar_features
from mlsys_assets.model_contract import Baseline
from mlsys_assets.scoring.predictor import ModelBundle
from mlsys_assets.scoring.rules import BusinessRule, decide
from serving.features import STORE_UNAVAILABLE, FeatureBatch, FeatureSource
from serving.metrics import ServingMetrics
from serving.models import ModelWatcher, ServingModels
from serving.prediction_log import ParquetLog
from serving.routing import CHALLENGER, CHAMPION, FALLBACK, Variant, choose_variant
from serving.schemas import FlightRequest, Prediction

logger = logging.getLogger(__name__)

BASELINE_RULE = "baseline"
PRIOR_RULE = "prior"
PRIOR_PROBABILITY = 0.2  # used only when no model and no baseline were ever loaded
# What the prediction log takes from the flight and from the answer, besides the features.
FLIGHT_FIELDS = (
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "scheduled_departure",
    "distance",
)
ANSWER_FIELDS = (
    "missing_features",
    "model_name",
    "model_version",
    "variant",
    "delay_probability",
    "delayed",
    "rule",
    "threshold",
    "fallbacks",
)


@dataclass(slots=True)
class _Row:
    """One flight on its way through the pipeline (``index``: its place in the batch)."""

    index: int
    request_id: str
    flight: dict[str, Any]
    variant: Variant
    fallbacks: list[str] = field(default_factory=list)
    model: ModelBundle | None = None
    probability: float = float("nan")


class InferencePipeline:
    """Scores flights with the models of a ``ModelWatcher`` and features of a ``FeatureSource``."""

    def __init__(
        self,
        *,
        model_name: str,
        watcher: ModelWatcher,
        features: FeatureSource,
        rules: Sequence[BusinessRule],
        canary_share: float,
        metrics: ServingMetrics,
        log: ParquetLog,
    ) -> None:
        self.model_name = model_name
        self.watcher = watcher
        self.features = features
        self.rules = tuple(rules)
        self.canary_share = canary_share
        self.metrics = metrics
        self.log = log

    def predict(self, request: FlightRequest) -> Prediction:
        """Score one flight; never raises for a valid request."""
        return self.predict_many([request], endpoint="predict")[0]

    def predict_many(
        self, requests: Sequence[FlightRequest], endpoint: str = "batch"
    ) -> list[Prediction]:
        """Score flights in order; each answer is logged as its own record."""
        started = time.perf_counter()
        now = utc_now()  # the feature time's "now", and the log's logged_at
        converted: dict[dt.datetime, dt.datetime] = {}
        flights = [flight_fields(r, converted) for r in requests]
        features = self.features.lookup(flights, now)
        state = self.watcher.state  # one snapshot for the whole call: no mixed swap
        has_challenger = state.challenger is not None
        rows = []
        for i, (request, flight) in enumerate(zip(requests, flights, strict=True)):
            request_id = request.request_id or secrets.token_hex(16)
            variant = choose_variant(request_id, self.canary_share, has_challenger)
            row = _Row(i, request_id, flight, variant)
            if not features.store_ok:
                row.fallbacks.append(STORE_UNAVAILABLE)
            rows.append(row)
        self._score(state, features, rows)
        latency_ms = (time.perf_counter() - started) * 1000.0 / max(len(rows), 1)
        missing = features.missing_names()
        answers = [self._answer(state, row, missing[i]) for i, row in enumerate(rows)]
        self._log(flights, features, answers, endpoint, latency_ms, now)
        self._count(answers, rows)
        return answers

    def _count(self, answers: list[Prediction], rows: list[_Row]) -> None:
        """Metrics once per call and label set, not once per flight (a batch has 1,000)."""
        scored = Counter((a.variant, a.model_version or "none") for a in answers)
        for (variant, version), n in scored.items():
            self.metrics.predictions.labels(variant, version).inc(n)
        reasons = Counter(reason for row in rows for reason in row.fallbacks)
        for reason, n in reasons.items():
            self.metrics.fallbacks.labels(reason=reason).inc(n)

    def _score(self, state: ServingModels, features: FeatureBatch, rows: list[_Row]) -> None:
        """Set each row's model and probability along the chain (rows left: the baseline)."""
        chain: list[tuple[Variant, ModelBundle | None, str]] = [
            (CHALLENGER, state.challenger, "challenger_predict_failed"),
            (CHAMPION, state.champion, "champion_predict_failed"),
            (CHAMPION, state.previous, "previous_predict_failed"),
        ]
        pending = [row for row in rows if row.variant == CHALLENGER]
        champion_rows = [row for row in rows if row.variant != CHALLENGER]
        in_order = list(range(len(rows)))
        for step, (variant, model, reason) in enumerate(chain):
            if step == 1:
                pending = pending + champion_rows
            if not pending or model is None:
                continue
            try:
                indices: Sequence[int] = [row.index for row in pending]
                if indices == in_order:  # the whole batch: the encoder takes columns as they are
                    indices = range(len(rows))
                probabilities = model.predict_matrix(
                    model.encode_columns(features.columns, indices)
                )
            except Exception:  # noqa: BLE001 - a model that cannot predict: next in the chain
                logger.exception("model v%s failed to predict", model.version)
                probabilities = np.full(len(pending), np.nan)
            failed = []
            for row, probability in zip(pending, probabilities, strict=True):
                if probability != probability:  # NaN or an exception: next in the chain
                    row.fallbacks.append(reason)
                    failed.append(row)
                    continue
                row.model, row.variant = model, variant
                row.probability = min(max(float(probability), 0.0), 1.0)
                if step == 2:
                    row.fallbacks.append("previous_champion")
            pending = failed
        for row in rows:
            if row.model is None:
                if state.champion is None and state.previous is None:
                    row.fallbacks.append("no_model")
                row.variant = FALLBACK
                row.probability = _baseline_probability(state.baseline, row.flight)

    def _answer(self, state: ServingModels, row: _Row, missing: list[str]) -> Prediction:
        """The answer: the model's (or the baseline's) decision and the rule that made it.

        ``missing``: what the model got as missing (imputed because stale, absent or the store
        down, or simply null).
        """
        model = row.model
        if model is None:
            threshold = state.threshold
            delayed = row.probability >= threshold
            rule = BASELINE_RULE if state.baseline is not None else PRIOR_RULE
            version = state.baseline_version
        else:
            threshold = model.threshold
            delayed, rule = decide(row.probability, threshold, row.flight, self.rules)
            version = model.version
        return Prediction(  # pydantic-core's validating init beats model_construct
            request_id=row.request_id,
            delay_probability=row.probability,
            delayed=delayed,
            model_name=self.model_name,
            model_version=version,
            variant=row.variant,
            missing_features=missing,
            rule=rule,
            threshold=threshold,
            fallbacks=row.fallbacks,
        )

    def _log(
        self,
        flights: list[dict[str, Any]],
        features: FeatureBatch,
        answers: list[Prediction],
        endpoint: str,
        latency_ms: float,
        now: dt.datetime,
    ) -> None:
        """One log record per answer, handed over column by column (no dict per record)."""
        count = len(answers)
        columns: dict[str, Any] = {
            "request_id": [a.request_id for a in answers],
            "logged_at": [now] * count,
            "endpoint": [endpoint] * count,
        }
        for name in FLIGHT_FIELDS:
            columns[name] = [flight[name] for flight in flights]
        columns["feature_values"] = features.columns
        for name in ANSWER_FIELDS:
            columns[name] = [getattr(a, name) for a in answers]
        columns["latency_ms"] = [latency_ms] * count
        self.log.append_columns(columns, count)


def flight_fields(
    request: FlightRequest, utc: dict[dt.datetime, dt.datetime] | None = None
) -> dict[str, Any]:
    """The flight as the feature code takes it: ``normalize_request``'s output, built directly
    (the schema already typed every field: no empty tail number, a float distance).

    ``utc``: departures already converted in this batch (equal instants hash alike whatever
    their offset), as a batch has far fewer distinct departure times than flights.
    """
    departure = request.scheduled_departure
    if utc is None:
        naive = request.departure_utc()
    elif (naive := utc.get(departure)) is None:
        naive = utc[departure] = request.departure_utc()
    return {
        "carrier": request.carrier,
        "flight": request.flight,
        "tailnum": request.tailnum,
        "origin": request.origin,
        "dest": request.dest,
        "scheduled_departure": naive,
        "distance": request.distance,
    }


def _baseline_probability(baseline: Baseline | None, flight: dict[str, Any]) -> float:
    """The baseline rate of the flight's carrier and local departure hour (or the prior)."""
    if baseline is None:
        return PRIOR_PROBABILITY
    departure = flight["scheduled_departure"].replace(minute=0, second=0, microsecond=0)
    hour = int(calendar_features(departure)[0])
    return baseline.probability(flight["carrier"], hour)
