"""Prometheus metrics (prometheus-client), one registry for the worker and the API.

Names follow Prometheus conventions: `logvec_<thing>_total` for counters, `_seconds` for durations.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

VECTORIZER_CACHE = Counter(
    "logvec_vectorizer_cache_requests_total",
    "Distinct masked lines looked up in the vectorizer cache, by result (hit: vector reused; miss: computed).",
    ["vectorizer", "result"],
)
RECORDS_CONSUMED = Counter("logvec_records_consumed_total", "Lines or messages read from the source.")
RECORDS_PROCESSED = Counter("logvec_records_processed_total", "Records written to the store.")
REDACTIONS = Counter("logvec_redactions_total", "Secrets replaced by a marker before parsing, by kind.", ["kind"])
DEAD_LETTERS = Counter("logvec_dead_letters_total", "Lines or messages sent to the dead-letter place.", ["reason"])
ANOMALIES = Counter("logvec_anomalies_total", "Records and sessions flagged anomalous.", ["level"])
# by what flagged them (a fixed set: new_template, rare_template, severity, distance, sequence, missing_step,
# rate); not by service, whose values come from the logs and are not bounded
ANOMALIES_BY_KIND = Counter("logvec_anomaly_kinds_total", "Flagged records and sessions by anomaly kind (an item "
                        "flagged for two reasons counts under each).", ["level", "kind"])
INCIDENTS_OPENED = Counter(
    "logvec_incidents_opened_total",
    "Incidents this worker wrote first (a fleet sharing a store may, rarely, both write a new one in one update).")
INCIDENTS_OPEN = Gauge("logvec_incidents_open", "Incidents still open (no `incidents.gap` without an anomaly yet) "
                       "at this worker's last update.")
ANOMALIES_BY_SERVICE = Counter(
    "logvec_anomalies_by_service_total",
    "Records flagged anomalous, by service: the first MAX_SERVICE_LABELS services a process meets have a label of "
    "their own, the rest count under `other` (names read from logs must not grow the series without bound).",
    ["service"])
MAX_SERVICE_LABELS = 100
STAGE_SECONDS = Histogram("logvec_stage_seconds", "Time one batch spent in each stage.", ["stage"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
STORE_WRITE_SECONDS = Histogram("logvec_store_write_seconds", "Store write latency per batch, until acknowledged.",
                                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CONSUMER_LAG = Gauge("logvec_consumer_lag_messages", "Kafka: highwater minus position, per partition.",
                     ["topic", "partition"])
ASSIGNED_PARTITIONS = Gauge("logvec_consumer_assigned_partitions",
                            "Kafka: partitions this worker owns now (0 while a rebalance is under way).")
COMMITS = Counter("logvec_commits_total", "Kafka offset commits after a stored batch.")
COMMIT_FAILURES = Counter("logvec_commit_failures_total", "Kafka commits that failed (batch will be re-read).")
REBALANCES = Counter("logvec_rebalances_total", "Kafka consumer-group rebalances seen, by event.", ["event"])
CHECKPOINTS = Counter("logvec_store_checkpoints_total",
                      "Embedded store: write-ahead-log checkpoints by result (done; skipped: another process was "
                      "checkpointing; failed: see the log, tried again after the next write).", ["result"])
ALERTS = Counter("logvec_alerts_published_total", "Anomaly alerts published.")
HTTP_REQUESTS = Counter("logvec_http_requests_total", "API requests answered, by route, method and status.",
                        ["route", "method", "status"])
HTTP_REQUEST_SECONDS = Histogram("logvec_http_request_seconds", "API request latency, by route.", ["route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


class BoundedLabels:
    """Label values as they come, up to `limit` distinct ones; later ones are `other`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        return "other"


SERVICE_LABELS = BoundedLabels(MAX_SERVICE_LABELS)
