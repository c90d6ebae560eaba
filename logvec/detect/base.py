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


class Sample:
    """n items to score. `vectors` holds their features (distinct rows + index); `sequences` their
    template ids in order (several per session); lines give `template_ids` instead, one per line, and
    their one-element sequences are only made if a detector asks; `names` what to call each item in an
    explanation; `feature_names` one per vector column; `template_text` turns a template id into text."""

    def __init__(self, vectors: Vectors, sequences: list[np.ndarray] | None, names: list[str],
                 feature_names: list[str], template_text: Callable[[int], str], level: str = "line",
                 template_ids: np.ndarray | None = None) -> None:
        if sequences is None and template_ids is None:
            raise ValueError("a Sample needs sequences or template_ids")
        self.vectors, self.names, self.feature_names = vectors, names, feature_names
        self.template_text, self.level = template_text, level
        self.template_ids = template_ids
        self._sequences = sequences

    @property
    def sequences(self) -> list[np.ndarray]:
        if self._sequences is None:
            ids = self.template_ids
            self._sequences = [ids[i:i + 1] for i in range(len(ids))]  # type: ignore[index]
        return self._sequences

    @sequences.setter
    def sequences(self, value: list[np.ndarray]) -> None:
        self._sequences, self.template_ids = value, None

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, idx: np.ndarray) -> "Sample":
        idx = np.asarray(idx, dtype=np.int64)
        if self._sequences is None:
            return Sample(self.vectors.take(idx), None, [self.names[i] for i in idx], self.feature_names,
                          self.template_text, self.level, template_ids=self.template_ids[idx])  # type: ignore[index]
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
    explanations: dict[int, list[Explanation]]  # flagged items only, by position
    threshold: float = 1.0

    @property
    def reasons(self) -> list[str]:
        """One line per item: its explanations joined, "" for normal items."""
        out = [""] * len(self.scores)
        for i, ex in self.explanations.items():
            out[i] = " | ".join(e.text() for e in ex)
        return out


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
        idx = np.flatnonzero(flagged)
        explanations = dict(zip(idx.tolist(), self.explain(sample, idx, scores))) if len(idx) else {}
        return Detections(scores, flagged, explanations, float(self.threshold_))
