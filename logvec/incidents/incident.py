"""What an incident is: the anomalies it groups, counted by service, kind and template, and its signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from logvec.timeparse import iso_utc


@dataclass
class Anomaly:
    """One anomalous record as incidents see it (or a rate drop, which has no record: `id` is `event:KEY`)."""

    id: str
    ts: float
    service: str
    template_id: int | None
    template: str
    message: str
    kinds: list[str]
    score: float | None = None


@dataclass
class Incident:
    """Anomalies close in time and related by service or template; `signature` places it among the others."""

    id: str
    start: float  # epoch seconds of its first anomaly
    end: float  # ... and of its last
    anomalies: int
    services: dict[str, int]  # anomalies by service, most first
    kinds: dict[str, int]  # anomalies by kind (new_template, rare, rate, session, rate_drop, ...)
    top_templates: list[dict[str, Any]]  # template_id, template, count, example, example_id; most first
    summary: str
    status: str = "open"  # open (may still grow), closed (no anomaly for `incidents.gap`), resolved
    model_id: str | None = None  # the model whose vectors make its signature
    signature: np.ndarray | None = field(default=None, repr=False)
    resolution: dict[str, Any] | None = None  # note, by, at: set by `logvec feedback resolve`

    def to_dict(self, score: float | None = None, why: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON the CLI and the API give (times ISO 8601 UTC; no signature)."""
        out: dict[str, Any] = {
            "id": self.id, "start": iso_utc(self.start), "end": iso_utc(self.end), "status": self.status,
            "services": list(self.services), "anomalies": self.anomalies, "kinds": self.kinds,
            "top_templates": self.top_templates, "summary": self.summary, "model_id": self.model_id,
            "resolution": self.resolution, "services_count": self.services,
        }
        if score is not None:
            out["score"] = round(float(score), 4)
        if why is not None:
            out["why"] = why
        return out

    def to_doc(self) -> dict[str, Any]:
        """What a store keeps (epoch seconds, the signature as a list)."""
        return {"id": self.id, "start": self.start, "end": self.end, "anomalies": self.anomalies,
                "services": self.services, "kinds": self.kinds, "top_templates": self.top_templates,
                "summary": self.summary, "status": self.status, "model_id": self.model_id,
                "resolution": self.resolution}

    @classmethod
    def from_doc(cls, doc: dict[str, Any], signature: np.ndarray | list[float] | None = None) -> "Incident":
        sig = None if signature is None else np.asarray(signature, dtype=np.float32)
        return cls(id=doc["id"], start=float(doc["start"]), end=float(doc["end"]), anomalies=int(doc["anomalies"]),
                   services=dict(doc.get("services") or {}), kinds=dict(doc.get("kinds") or {}),
                   top_templates=list(doc.get("top_templates") or []), summary=doc.get("summary") or "",
                   status=doc.get("status") or "open", model_id=doc.get("model_id"), signature=sig,
                   resolution=doc.get("resolution"))
