"""Prometheus metrics of the service, in a registry of its own (one per app, so several apps
in one process, as in the tests, do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: Request durations, seconds: health checks take milliseconds, a many-page identification
#: a minute.
DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("imprint_requests", "HTTP requests served",
                                ("endpoint", "method", "status"), registry=self.registry)
        self.duration = Histogram("imprint_request_duration_seconds",
                                  "time to serve a request", ("endpoint",),
                                  buckets=DURATION_BUCKETS_S, registry=self.registry)
        self.verdicts = Counter("imprint_verdicts", "verdicts returned, by endpoint",
                                ("endpoint", "verdict"), registry=self.registry)
        self.audit_failures = Counter("imprint_audit_failures",
                                      "accesses refused because the audit row could not be "
                                      "written", registry=self.registry)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.duration.labels(endpoint).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
