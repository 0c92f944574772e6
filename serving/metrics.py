"""Prometheus metrics of one app instance (its own registry, so several apps can coexist).

With several uvicorn workers each process exposes its own numbers; Prometheus sums them when it
scrapes every worker (or run one worker per replica, as the README suggests).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # the *_created series double the exposition for no use here

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServingMetrics:
    """Counters and histograms: requests, latency, predictions, fallbacks, models, the log."""

    def __init__(self) -> None:
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
            "mlsys_model_version", "Version served per alias (0: none).", ["alias"], registry=r
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
        )

    def set_freshness(self, by_source: dict[str, dict]) -> None:
        """Copy the stream processor's freshness summary (from the online store's state)."""
        for source, summary in by_source.items():
            for quantile, key in (("0.5", "p50_ms"), ("0.99", "p99_ms")):
                if summary.get(key) is not None:
                    self.freshness.labels(source, quantile).set(float(summary[key]))

    def fallback(self, reason: str) -> None:
        self.fallbacks.labels(reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
