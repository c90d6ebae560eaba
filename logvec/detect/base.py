"""The detector contract: what detectors are given (`Sample`) and what they return (`Detections`).

A detector is fitted on a baseline (`fit`), scores new items (`score`, higher = more anomalous) against a
threshold calibrated on that baseline, and explains each item it flags. Items are lines or sessions: both
arrive as a `Sample`, so one detector serves both levels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from logvec.vectorize.base import Vectors


@dataclass
class Sample:
    """n items to score. `vectors` holds their features (distinct rows + index); `sequences` their
    template ids in order (one per line, several per session); `names` what to call each item in an
    explanation; `feature_names` one per vector column; `template_text` turns a template id into text."""

    vectors: Vectors
    sequences: list[np.ndarray]
    names: list[str]
    feature_names: list[str]
    template_text: Callable[[int], str]
    level: str = "line"  # "line" | "session"

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, idx: np.ndarray) -> "Sample":
        idx = np.asarray(idx, dtype=np.int64)
        return Sample(self.vectors.take(idx), [self.sequences[i] for i in idx], [self.names[i] for i in idx],
                      self.feature_names, self.template_text, self.level)


@dataclass
class Explanation:
    """Why an item was flagged: its kind, the evidence that drove it, its nearest normal neighbours."""

    kind: str  # new template | rare template | unusual sequence | missing step | far from neighbours
    detector: str
    score: float
    threshold: float
    evidence: list[str] = field(default_factory=list)
    neighbours: list[tuple[str, float]] = field(default_factory=list)  # (name, cosine distance)

    def text(self) -> str:
        parts = [f"{self.kind} ({self.detector} {self.score:.3g} ≥ {self.threshold:.3g})"]
        if self.evidence:
            parts.append("; ".join(self.evidence))
        if self.neighbours:
            parts.append("nearest normal: " + "; ".join(f"{n!r} at {d:.2f}" for n, d in self.neighbours))
        return " — ".join(parts)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "detector": self.detector, "score": self.score, "threshold": self.threshold,
                "evidence": self.evidence,
                "neighbours": [{"name": n, "distance": round(d, 4)} for n, d in self.neighbours]}


@dataclass
class Detections:
    scores: np.ndarray  # float32, higher = more anomalous, comparable to `threshold`
    is_anomaly: np.ndarray  # bool
    explanations: list[list[Explanation]]  # per item; empty for normal items
    threshold: float = 1.0

    @property
    def reasons(self) -> list[str]:
        return [" | ".join(e.text() for e in ex) for ex in self.explanations]


class Detector:
    """Subclasses set `name`, implement `fit`, `score` and `explain`; `detect` ties them together."""

    name = "detector"
    threshold_: float
    center_: float  # the baseline's typical score (median), for scaling scores across detectors

    def fit(self, sample: Sample) -> "Detector":
        raise NotImplementedError

    def score(self, sample: Sample) -> np.ndarray:
        raise NotImplementedError

    def explain(self, sample: Sample, idx: np.ndarray, scores: np.ndarray) -> list[list[Explanation]]:
        raise NotImplementedError

    def flag(self, scores: np.ndarray, sample: Sample) -> np.ndarray:
        return scores >= self.threshold_

    def detect(self, sample: Sample) -> Detections:
        scores = self.score(sample).astype(np.float32)
        flagged = self.flag(scores, sample)
        explanations: list[list[Explanation]] = [[] for _ in range(len(scores))]
        idx = np.flatnonzero(flagged)
        if len(idx):
            for i, ex in zip(idx.tolist(), self.explain(sample, idx, scores)):
                explanations[i] = ex
        return Detections(scores, flagged, explanations, float(self.threshold_))
