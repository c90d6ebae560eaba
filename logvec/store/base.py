"""The store contract shared by every backend: `upsert`, `knn`, `count`, `stats`, and one hit shape."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone


class StoreDimensionError(ValueError):
    """Vectors of one dimension offered to a store that holds another."""


class StoreCorruptError(RuntimeError):
    """The store's files disagree (a vector file shorter than its table says): refuse to write more."""


@dataclass
class SearchFilters:
    service: str | None = None
    level: str | None = None
    since: float | None = None  # epoch seconds
    until: float | None = None
    anomalies_only: bool = False


@dataclass
class SessionRow:
    """A closed session's verdict."""

    key: str
    record_ids: list[str]
    first_ts: float
    last_ts: float
    is_anomaly: bool
    score: float
    reason: str
    kinds: str = ""  # anomaly kinds, comma-joined


@dataclass
class Hit:
    id: str
    score: float  # cosine similarity, higher is closer
    message: str
    template: str
    template_id: int | None
    timestamp: str | None  # ISO 8601, UTC
    service: str
    level: str
    is_anomaly: bool
    anomaly_score: float | None
    reason: str
    flags: str
    anomaly_kinds: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: tuple, score: float) -> "Hit":
        rid, ts, service, level, message, template, tid, anomaly, ascore, reason, flags, kinds = row
        when = None
        if ts is not None and not math.isnan(ts):
            dt = datetime.fromtimestamp(ts, tz=timezone.utc)
            when = dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds").replace("+00:00", "Z")
        return cls(rid, round(float(score), 6), message or "", template or "", tid, when, service or "",
                   level or "", bool(anomaly), ascore, reason or "", flags or "", split_kinds(kinds))

    def to_dict(self) -> dict:
        return asdict(self)


def split_kinds(kinds: str | None) -> list[str]:
    """A stored comma-joined kinds column as a list, each kind once (later flags append to it)."""
    return list(dict.fromkeys(k for k in (kinds or "").split(",") if k))
