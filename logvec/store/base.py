"""The store contract shared by every backend (`StoreReader`, `Store`) and the shapes they exchange."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from logvec.timeparse import iso_utc

if TYPE_CHECKING:
    import numpy as np

    from logvec.deadletter import DeadLetter
    from logvec.detect.rate import RateEvent
    from logvec.incidents import Anomaly, Incident
    from logvec.incidents.feedback import NormalMark
    from logvec.records import RecordBatch
    from logvec.vectorize.base import Vectors


# Anomalies read at once for incidents, at most (a rebuild reads a longer history in steps of this many).
MAX_ANOMALIES = 100_000


class StoreDimensionError(ValueError):
    """Vectors of one dimension offered to a store that holds another."""


class StoreUnavailableError(RuntimeError):
    """A store's server did not answer, after its retries: nothing was written, the batch is not committed."""


class StoreModelError(ValueError):
    """Vectors of one model version offered to an embedded store that holds another's: they would not compare."""


class StoreCorruptError(RuntimeError):
    """The store's files disagree (a vector file shorter than its table says): refuse to write more."""


@dataclass
class SearchFilters:
    service: str | None = None
    level: str | None = None
    since: float | None = None  # epoch seconds
    until: float | None = None
    anomalies_only: bool = False
    kind: str | None = None  # only anomalies of this kind (new_template, rare, rate, session, ...)


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
    model_id: str | None = None  # the model version that vectorized the record
    lexical: float | None = None  # hybrid search: the pipeline's cosine to the query ...
    meaning: float | None = None  # ... and the template's closeness in meaning to it

    @classmethod
    def from_row(cls, row: tuple, score: float, model_id: str | None = None) -> "Hit":
        rid, ts, service, level, message, template, tid, anomaly, ascore, reason, flags, kinds = row
        return cls(rid, round(float(score), 6), message or "", template or "", tid, iso_utc(ts), service or "",
                   level or "", bool(anomaly), ascore, reason or "", flags or "", split_kinds(kinds), model_id)

    def to_dict(self) -> dict:
        return asdict(self)


def split_kinds(kinds: str | None) -> list[str]:
    """A stored comma-joined kinds column as a list, each kind once (later flags append to it)."""
    return list(dict.fromkeys(k for k in (kinds or "").split(",") if k))


def epoch(iso_time: str | None) -> float | None:
    """An ISO 8601 time as a hit shows it, as epoch seconds."""
    if not iso_time:
        return None
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def histogram_series(rows: list[tuple], since: float, width: float, buckets: int) -> dict[str, Any]:
    """(bucket, service, lines, anomalies) rows as per-service series of `buckets` counts."""
    lines: dict[str, list[int]] = {}
    anomalies: dict[str, list[int]] = {}
    for b, service, n, bad in rows:
        if 0 <= b < buckets:
            lines.setdefault(service, [0] * buckets)[b] += int(n)
            anomalies.setdefault(service, [0] * buckets)[b] += int(bad or 0)
    return {"since": since, "bucket_seconds": width, "buckets": buckets, "lines": lines, "anomalies": anomalies}



@runtime_checkable
class StoreReader(Protocol):
    """What `search`, `stats`, the API and the page need: reads only, so the read side never opens a writer."""

    def knn(self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None,
            message: str | None = None) -> list[Hit]:
        """The k records nearest `vector` by cosine similarity, best first."""
        ...

    def count(self) -> int: ...

    def use_model(self, model_id: str | None) -> None:
        """Read (and write) the vectors of this model version."""
        ...

    def stats(self) -> dict[str, Any]: ...

    def sessions(self, anomalies_only: bool = False, limit: int = 100) -> list[dict[str, Any]]: ...

    def rate_events(self, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    def anomalies(self, since: float | None = None, until: float | None = None,
                  limit: int = MAX_ANOMALIES) -> list[Anomaly]:
        """Anomalous records (and rate drops) with a time in [since, until], in time order."""
        ...

    def incidents(self, since: float | None = None, until: float | None = None, limit: int = 100,
                  signatures: bool = False) -> list[Incident]:
        """Incidents overlapping [since, until], the latest first."""
        ...

    def incident(self, incident_id: str) -> Incident | None: ...

    def template_texts(self) -> list[str]:
        """Every distinct template text stored."""
        ...

    def time_range(self) -> tuple[float | None, float | None]:
        """The first and last record time stored (None, None for none)."""
        ...

    def session(self, key: str) -> dict[str, Any] | None:
        """A scored session's row (key, first_ts, last_ts, lines, is_anomaly, anomaly_score, reason)."""
        ...

    def lines_between(self, since: float, until: float, service: str | None = None, contains: str | None = None,
                      limit: int = 500) -> list[Hit]:
        """Records with a time in [since, until], of `service`, whose message holds `contains`, in time order."""
        ...

    def records(self, ids: list[str]) -> list[Hit]:
        """The stored records of these ids (those there are), in the order asked."""
        ...

    def neighbours(self, hit: Hit, before: int, after: int) -> list[Hit]:
        """Records of the hit's service just before and after it in time, in time order."""
        ...

    def histogram(self, since: float, until: float, buckets: int) -> dict[str, Any]:
        """Lines and anomalies per service in `buckets` equal spans of [since, until]."""
        ...

    def feedback(self) -> list[NormalMark]:
        """Templates marked normal, every mark (expired ones too: they are the record of who said what)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Store(StoreReader, Protocol):
    """A backend the pipeline writes to. Every write is idempotent by record id and durable when it returns."""

    def upsert(self, records: RecordBatch, vectors: Vectors) -> list[DeadLetter]:
        """Write the batch; returns the records the backend refused, as dead letters (none are dropped)."""
        ...

    def activate_model(self, model_id: str, dim: int) -> Any:
        """Get ready for a model version to become the active one (an index and the alias), or refuse it."""
        ...

    def upsert_sessions(self, rows: list[SessionRow]) -> None: ...

    def flag_records(self, rows: list[tuple[str, str]], kind: str) -> None:
        """Mark records anomalous after the fact (`rows`: id and reason) with one more anomaly kind."""
        ...

    def upsert_rate_events(self, events: list[RateEvent]) -> None: ...

    def upsert_incidents(self, incidents: list[Incident], delete: list[str] | tuple[str, ...] = ()) -> None:
        """Write incidents (an id again replaces it) and delete those of `delete`."""
        ...

    def upsert_feedback(self, marks: list[NormalMark], delete: list[str] | tuple[str, ...] = ()) -> None: ...

    def delete_incidents(self) -> int:
        """Delete every incident (a rebuild); returns how many there were."""
        ...
