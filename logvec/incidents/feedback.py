"""What SREs tell logvec back: an incident is resolved (with a note), a template is normal.

A template marked normal (for one service or any, until a time or for good) is no longer flagged: the worker
takes the flag off a batch's records of that template before they are stored and alerted on, and a rate storm
of it is not reported. Marks live in the store, beside the incidents, so every worker and the API see the same
ones (workers look again every `FEEDBACK_POLL_S`). A refit learns each marked template's example line as
normal traffic, so the next model does not flag it in the first place. Every mark and resolution says who gave
it and when.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FEEDBACK_POLL_S = 30.0  # how often a running worker reads the marks again


@dataclass
class NormalMark:
    """A template an SRE called normal."""

    template: str  # the template's text, as incidents and hits show it
    by: str
    at: float  # epoch seconds
    service: str | None = None  # None: in every service
    until: float | None = None  # None: for good
    note: str = ""
    incident: str | None = None  # the incident it was marked from
    example: str = ""  # a line of the template: what a refit learns as normal

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.service or ''}\x00{self.template}".encode()).hexdigest()[:16]

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NormalMark":
        return cls(**{k: v for k, v in d.items() if k != "key"})


class Suppressions:
    """The marks in force, as a lookup over a batch's flagged records."""

    def __init__(self, marks: list[NormalMark], now: float | None = None) -> None:
        now = time.time() if now is None else now
        live = [m for m in marks if m.active(now)]
        self.anywhere = {m.template for m in live if m.service is None}
        self.by_service = {(m.service, m.template) for m in live if m.service is not None}

    def __bool__(self) -> bool:
        return bool(self.anywhere or self.by_service)

    def hits(self, services: list[str], templates: list[str], rows: np.ndarray) -> np.ndarray:
        """Of `rows` (indices of flagged records), those whose template is marked normal."""
        keep = [i for i in rows.tolist()
                if templates[i] in self.anywhere or (services[i], templates[i]) in self.by_service]
        return np.asarray(keep, dtype=np.int64)

    def covers(self, service: str, template: str) -> bool:
        return template in self.anywhere or (service, template) in self.by_service
