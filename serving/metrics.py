"""Prometheus metrics of one app instance (its own registry, so several apps can coexist).

With several uvicorn workers (``mlsys serve --workers N``) the workers write their values to a
shared directory and ``/metrics`` merges every worker's (``serving/multiprocess.py``): counters
and histograms summed, the served versions per worker, freshness the latest written.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from serving import multiprocess as workers

disable_created_metrics()  # the *_created series double the exposition for no use here

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServingMetrics:
    """Counters and histograms: requests, latency, predictions, fallbacks, models, the log."""

    def __init__(self) -> None:
        self.multiprocess = workers.enabled()
        self._request_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mlsys_requests", "HTTP requests.", ["endpoint", "variant", "status"], registry=r
        )
        self.latency = Histogram(
            "mlsys_request_latency_seconds",
            "Request latency, inside the app.",
            ["endpoint", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "mlsys_predictions", "Flights scored.", ["variant", "model_version"], registry=r
        )
        self.fallbacks = Counter(
            "mlsys_fallbacks", "Fallbacks taken, by reason.", ["reason"], registry=r
        )
        self.model_version = Gauge(
            "mlsys_model_version",
            "Version served per alias (0: none); per worker (pid) with several.",
            ["alias"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "mlsys_model_reloads", "Registry refreshes, by result.", ["result"], registry=r
        )
        self.log_written = Counter(
            "mlsys_prediction_log_records", "Records written to the logs.", ["log"], registry=r
        )
        self.log_dropped = Counter(
            "mlsys_prediction_log_dropped", "Records dropped (buffer full).", ["log"], registry=r
        )
        self.log_errors = Counter(
            "mlsys_prediction_log_write_errors", "Failed log flushes.", ["log"], registry=r
        )
        self.freshness = Gauge(
            "mlsys_online_freshness_ms",
            "Stream event to visible online (the stream processor's recent window), per source.",
            ["source", "quantile"],
            registry=r,
            multiprocess_mode="mostrecent",
        )

        # The outbound `decisions` stream (serving/decisions.py).
        self.decisions_published = Counter(
            "mlsys_decisions_published", "Decisions published downstream.", registry=r
        )
        self.decisions_dropped = Counter(
            "mlsys_decisions_dropped",
            "Decisions not published (queue full, stream down).",
            registry=r,
        )
        self.decisions_lag = Gauge(
            "mlsys_decisions_lag",
            "Decisions a downstream consumer group has not acknowledged yet.",
            ["group"],
            registry=r,
            multiprocess_mode="mostrecent",
        )

    def observe_request(self, endpoint: str, variant: str, status: str, seconds: float) -> None:
        """Count one answered request and its latency (HTTP, the fast lane and gRPC alike).

        The counter's and the histogram's children are looked up once per label set:
        ``labels()`` validates and takes a lock on every call."""
        key = (endpoint, variant, status)
        found = self._request_series.get(key)
        if found is None:
            found = self._request_series[key] = (
                self.requests.labels(endpoint, variant, status),
                self.latency.labels(endpoint, variant),
            )
        found[0].inc()
        found[1].observe(seconds)

    def set_freshness(self, by_source: dict[str, dict]) -> None:
        """Copy the stream processor's freshness summary (from the online store's state)."""
        for source, summary in by_source.items():
            for quantile, key in (("0.5", "p50_ms"), ("0.99", "p99_ms")):
                if summary.get(key) is not None:
                    self.freshness.labels(source, quantile).set(float(summary[key]))

    def fallback(self, reason: str) -> None:
        self.fallbacks.labels(reason=reason).inc()

    def render(self) -> bytes:
        """The exposition: this process's registry, or every worker's values merged."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)

    def worker_started(self) -> None:
        if self.multiprocess:
            workers.forget_dead_workers()

    def worker_stopped(self) -> None:
        """A worker that stops takes its per-worker gauges with it (its counts stay)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())
