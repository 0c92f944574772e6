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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mlsys_assets.clock import utc_now
from mlsys_assets.features.request import REQUEST_FIELDS, calendar_features
from mlsys_assets.model_contract import Baseline
from mlsys_assets.scoring.predictor import ModelBundle
from mlsys_assets.scoring.rules import THRESHOLD_RULE, BusinessRule, decide
from serving import explain as explaining
from serving.decisions import DecisionPublisher
from serving.explain import Explanation, explain_rows
from serving.features import STORE_UNAVAILABLE, FeatureBatch, FeatureSource
from serving.metrics import ServingMetrics
from serving.models import ModelWatcher, ServingModels
from serving.prediction_log import ParquetLog
from serving.routing import CHALLENGER, CHAMPION, FALLBACK, Variant, choose_variant
from serving.schemas import ExplainedPrediction, FlightRequest, Prediction
from serving.shadow import ShadowScorer

logger = logging.getLogger(__name__)

BASELINE_RULE = "baseline"
PRIOR_RULE = "prior"
PRIOR_PROBABILITY = 0.2  # used only when no model and no baseline were ever loaded
NAN = float("nan")
ANSWER_KEYS = tuple(Prediction.model_fields)  # an answer's JSON keys, in order


@dataclass
class Scored:
    """The answers of one call, column by column (one entry per flight, in request order).

    ``predictions`` gives them as ``Prediction`` models (single requests); ``to_json`` writes
    the batch answer straight from the columns, which is the same JSON as dumping those models
    (a test pins it) without building 1,000 of them.
    """

    request_id: list[str]
    delay_probability: list[float]
    delayed: list[bool]
    model_name: str
    model_version: list[str | None]
    variant: list[Variant]
    missing_features: list[list[str]]
    rule: list[str]
    threshold: list[float]
    fallbacks: list[list[str]]
    explanations: list[Explanation | None] | None = None  # only when asked (explain=true)

    def __len__(self) -> int:
        return len(self.request_id)

    def column(self, key: str) -> Sequence[Any]:
        """One field of every answer (the model name is one for all)."""
        return [self.model_name] * len(self) if key == "model_name" else getattr(self, key)

    def _columns(self) -> list[Sequence[Any]]:
        return [self.column(key) for key in ANSWER_KEYS]

    def predictions(self) -> list[Prediction]:
        answers = [  # pydantic-core's validating init beats model_construct
            Prediction(**dict(zip(ANSWER_KEYS, values, strict=True)))
            for values in zip(*self._columns(), strict=True)
        ]
        if self.explanations is None:
            return answers
        return [
            ExplainedPrediction(**answer.__dict__, explanation=explanation)
            for answer, explanation in zip(answers, self.explanations, strict=True)
        ]

    def to_json(self) -> bytes:
        """``BatchResponse(predictions=...)`` as JSON."""
        answers = [
            dict(zip(ANSWER_KEYS, values, strict=True))
            for values in zip(*self._columns(), strict=True)
        ]
        if self.explanations is not None:
            for answer, explanation in zip(answers, self.explanations, strict=True):
                answer["explanation"] = explanation.model_dump() if explanation else None
        return orjson.dumps({"predictions": answers})


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
        clock: Callable[[], dt.datetime] = utc_now,
        shadow: bool = True,
        explain_top_k: int = 5,
        outputs: DecisionPublisher | None = None,
    ) -> None:
        self.model_name = model_name
        self.watcher = watcher
        self.features = features
        self.rules = tuple(rules)
        self.canary_share = canary_share
        self.metrics = metrics
        self.log = log
        self.clock = clock  # the request's moment: wall clock, or the replay clock
        # the challenger scores the champion's flights too, logged only (serving/shadow.py)
        self.shadow = ShadowScorer(log, model_name, self.rules) if shadow else None
        self.explain_top_k = explain_top_k
        self.outputs = outputs  # downstream systems: every answer on the `decisions` stream

    def predict(self, request: FlightRequest) -> Prediction:
        """Score one flight; never raises for a valid request."""
        return self.predict_many([request], endpoint="predict")[0]

    def explains_cheaply(self) -> bool:
        """Every model that may answer has its TreeSHAP tables: an explained batch then costs
        about twice a plain one and can be scored where plain ones are (the batcher's loop)."""
        return all(explaining.cheap(m) for m in self.watcher.state.loaded())

    def prepare_explaining(self) -> None:
        """Build the TreeSHAP tables of every model that may answer (off the event loop)."""
        for model in self.watcher.state.loaded():
            explaining.prepare(model)

    def predict_many(
        self, requests: Sequence[FlightRequest], endpoint: str = "batch", explain: bool = False
    ) -> list[Prediction]:
        """Score flights in order; each answer is logged as its own record."""
        return self.score(requests, endpoint, explain).predictions()

    def score(
        self, requests: Sequence[FlightRequest], endpoint: str = "batch", explain: bool = False
    ) -> Scored:
        """Score flights in order, column by column; each answer is logged as its own record."""
        started = time.perf_counter()
        now = self.clock()  # the request's moment: features are looked up as of it
        converted: dict[dt.datetime, dt.datetime] = {}
        flights = [flight_fields(r, converted) for r in requests]
        features = self.features.lookup(flights, now)
        state = self.watcher.state  # one snapshot for the whole call: no mixed swap
        count = len(requests)
        request_ids = [r.request_id or secrets.token_hex(16) for r in requests]
        if state.challenger is not None and self.canary_share > 0.0:
            variants = [choose_variant(rid, self.canary_share, True) for rid in request_ids]
        else:
            variants = [CHAMPION] * count
        start = [] if features.store_ok else [STORE_UNAVAILABLE]
        fallbacks = [list(start) for _ in range(count)]
        encoded: dict[int, tuple[Sequence[int], np.ndarray]] = {}  # reused to explain
        models, probabilities = self._score(state, features, flights, variants, fallbacks, encoded)
        latency_ms = (time.perf_counter() - started) * 1000.0 / max(count, 1)
        scored = Scored(
            request_id=request_ids,
            delay_probability=probabilities,
            model_name=self.model_name,
            variant=variants,
            missing_features=features.missing_names(),
            fallbacks=fallbacks,
            **self._decide(state, models, probabilities, flights),
        )
        logged: dict[str, Any] = {}
        if explain:
            scored.explanations, logged = explain_rows(
                models, features.columns, self.explain_top_k, encoded
            )
        self._log(flights, features, scored, endpoint, latency_ms, now, logged)
        if self.shadow is not None and state.challenger is not None:
            rows = [
                i for i, v in enumerate(scored.variant) if v == CHAMPION and models[i] is not None
            ]
            self.shadow.add(
                state.challenger, features.columns, flights, scored.request_id,
                scored.missing_features, rows, endpoint, now,
            )  # fmt: skip
        self._count(scored)
        if self.outputs is not None:
            self.outputs.publish(scored, flights, endpoint, now)
        return scored

    def _count(self, scored: Scored) -> None:
        """Metrics once per call and label set, not once per flight (a batch has 1,000)."""
        versions = [v or "none" for v in scored.model_version]
        for (variant, version), n in Counter(zip(scored.variant, versions, strict=True)).items():
            self.metrics.predictions.labels(variant, version).inc(n)
        reasons = Counter(reason for row in scored.fallbacks for reason in row)
        for reason, n in reasons.items():
            self.metrics.fallbacks.labels(reason=reason).inc(n)

    def _score(
        self,
        state: ServingModels,
        features: FeatureBatch,
        flights: list[dict[str, Any]],
        variants: list[Variant],
        fallbacks: list[list[str]],
        encoded: dict[int, tuple[Sequence[int], np.ndarray]],
    ) -> tuple[list[ModelBundle | None], list[float]]:
        """Each flight's model and probability along the chain (flights left: the baseline).

        ``variants`` and ``fallbacks`` are updated in place with what actually answered;
        ``encoded`` gets each model's rows and the matrix it scored (by ``id`` of the model).
        """
        count = len(flights)
        models: list[ModelBundle | None] = [None] * count
        probabilities = [NAN] * count
        chain: list[tuple[Variant, ModelBundle | None, str]] = [
            (CHALLENGER, state.challenger, "challenger_predict_failed"),
            (CHAMPION, state.champion, "champion_predict_failed"),
            (CHAMPION, state.previous, "previous_predict_failed"),
        ]
        pending = [i for i, v in enumerate(variants) if v == CHALLENGER]
        champion_rows = [i for i, v in enumerate(variants) if v != CHALLENGER]
        in_order = list(range(count))
        for step, (variant, model, reason) in enumerate(chain):
            if step == 1:
                pending = pending + champion_rows
            if not pending or model is None:
                continue
            # The whole batch in order: the encoder takes the feature columns as they are.
            rows: Sequence[int] = range(count) if pending == in_order else pending
            try:
                matrix = model.encode_columns(features.columns, rows)
                encoded[id(model)] = (rows, matrix)
                found = model.predict_matrix(matrix)
            except Exception:  # noqa: BLE001 - a model that cannot predict: next in the chain
                logger.exception("model v%s failed to predict", model.version)
                found = np.full(len(pending), np.nan)
            failed = []
            for i, probability in zip(pending, np.clip(found, 0.0, 1.0).tolist(), strict=True):
                if probability != probability:  # NaN or an exception: next in the chain
                    fallbacks[i].append(reason)
                    failed.append(i)
                    continue
                models[i], variants[i], probabilities[i] = model, variant, probability
                if step == 2:
                    fallbacks[i].append("previous_champion")
            pending = failed
        no_model = state.champion is None and state.previous is None
        for i in range(count):
            if models[i] is None:
                if no_model:
                    fallbacks[i].append("no_model")
                variants[i] = FALLBACK
                probabilities[i] = _baseline_probability(state.baseline, flights[i])
        return models, probabilities

    def _decide(
        self,
        state: ServingModels,
        models: list[ModelBundle | None],
        probabilities: list[float],
        flights: list[dict[str, Any]],
    ) -> dict[str, list[Any]]:
        """Each answer's decision, the rule that made it, the threshold and the version.

        A model's registered threshold then the rule layer; the baseline's answers use the
        serving threshold and name the baseline (or the prior) as their rule.
        """
        count = len(models)
        first = models[0] if count else None
        if first is not None and not self.rules and all(m is first for m in models):
            threshold = first.threshold  # one model, no rules: the threshold decides all
            return {
                "delayed": [p >= threshold for p in probabilities],
                "rule": [THRESHOLD_RULE] * count,
                "threshold": [threshold] * count,
                "model_version": [first.version] * count,
            }
        out: dict[str, list[Any]] = {
            "delayed": [],
            "rule": [],
            "threshold": [],
            "model_version": [],
        }
        baseline_rule = BASELINE_RULE if state.baseline is not None else PRIOR_RULE
        for model, probability, flight in zip(models, probabilities, flights, strict=True):
            if model is None:
                threshold, version = state.threshold, state.baseline_version
                delayed, rule = probability >= threshold, baseline_rule
            else:
                threshold, version = model.threshold, model.version
                delayed, rule = decide(probability, threshold, flight, self.rules)
            out["delayed"].append(delayed)
            out["rule"].append(rule)
            out["threshold"].append(threshold)
            out["model_version"].append(version)
        return out

    def _log(
        self,
        flights: list[dict[str, Any]],
        features: FeatureBatch,
        scored: Scored,
        endpoint: str,
        latency_ms: float,
        now: dt.datetime,
        extra: dict[str, Any],
    ) -> None:
        """One log record per answer, handed over column by column (no dict per record)."""
        count = len(scored)
        columns: dict[str, Any] = {key: scored.column(key) for key in ANSWER_KEYS}
        for name in REQUEST_FIELDS:
            columns[name] = [flight[name] for flight in flights]
        columns["feature_values"] = features.columns
        columns["requested_at"] = [now] * count
        columns["logged_at"] = [utc_now()] * count
        columns["endpoint"] = [endpoint] * count
        columns["latency_ms"] = [latency_ms] * count
        columns.update(extra)  # the contributions, when explained
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
