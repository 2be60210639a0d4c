"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# `*_created` timestamps double the output and no dashboard uses them.
disable_created_metrics()

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("srllm_requests", "HTTP requests by route, method and status code",
                                ("route", "method", "status"), registry=r)
        self.latency = Histogram("srllm_request_latency_seconds", "Request latency by route", ("route",),
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batches = Counter("srllm_batches", "Batched generation calls run on the model", registry=r)
        self.batch_size = Histogram("srllm_batch_size_texts", "Texts per batched generation call",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("srllm_batch_size_requests", "Requests merged into one generation call",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.generation_seconds = Histogram("srllm_generation_seconds", "Time of one batched generation call",
                                            buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("srllm_queue_depth", "Texts waiting for the model", registry=r)
        self.texts = Counter("srllm_texts", "Rewritten texts by status (ok, flagged, unchanged, error)",
                             ("status",), registry=r)
        self.flagged_rate = Gauge("srllm_flagged_rate", "Share of rewritten texts flagged so far", registry=r)
        self.rate_limited = Counter("srllm_rate_limited", "Requests refused by the per-key rate limit", registry=r)
        self.jobs_rows = Counter("srllm_job_rows", "Batch-job rows rewritten", registry=r)
        self._seen = 0
        self._flagged = 0

    def count_statuses(self, statuses: list[str]) -> None:
        for status in statuses:
            self.texts.labels(status=status).inc()
        self._seen += len(statuses)
        self._flagged += sum(status == "flagged" for status in statuses)
        if self._seen:
            self.flagged_rate.set(self._flagged / self._seen)
