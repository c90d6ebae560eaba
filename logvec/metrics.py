"""Prometheus metrics (prometheus-client), one registry for the worker and the API.

Names follow Prometheus conventions: `logvec_<thing>_total` for counters, `_seconds` for durations.
"""

from __future__ import annotations

from prometheus_client import Counter

VECTORIZER_CACHE = Counter(
    "logvec_vectorizer_cache_requests_total",
    "Distinct masked lines looked up in the vectorizer cache, by result (hit: vector reused; miss: computed).",
    ["vectorizer", "result"],
)
