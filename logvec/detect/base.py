"""The detector contract: what detectors are given (`Sample`) and what they return (`Detections`).

A detector is fitted on a baseline (`fit`), scores new items (`score`, higher = more anomalous) against a
threshold calibrated on that baseline, and explains each item it flags. Items are lines or sessions: both
arrive as a `Sample`, so one detector serves both levels.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from logvec.config import ThresholdConfig
from logvec.detect.calibrate import MIN_TAIL_SHARE, calibrate, conformal_threshold, fold_assignment, holds_out
from logvec.errors import NotFittedError
from logvec.vectorize.base import Vectors


class Sample:
    """n items to score. `vectors` holds their features (distinct rows + index); `sequences` their
    template ids in order (several per session); lines give `template_ids` instead, one per line, and
    their one-element sequences are only made if a detector asks; `names` what to call each item in an
    explanation; `feature_names` one per vector column; `template_text` turns a template id into text;
    `levels` the lines' parsed levels ("" for none), when known."""

    def __init__(self, vectors: Vectors, sequences: list[np.ndarray] | None, names: list[str],
                 feature_names: list[str], template_text: Callable[[int], str], level: str = "line",
                 template_ids: np.ndarray | None = None, levels: list[str] | None = None) -> None:
        if sequences is None and template_ids is None:
            raise ValueError("a Sample needs sequences or template_ids")
        self.vectors, self.names, self.feature_names = vectors, names, feature_names
        self.template_text, self.level = template_text, level
        self.template_ids = template_ids
        self.levels = levels
        self._sequences = sequences

    @property
    def sequences(self) -> list[np.ndarray]:
        if self._sequences is None:
            ids = self.template_ids
            if ids is None:  # the setter keeps one of the two
                raise ValueError("a Batch holds neither sequences nor template ids")
            self._sequences = [ids[i:i + 1] for i in range(len(ids))]
        return self._sequences

    @sequences.setter
    def sequences(self, value: list[np.ndarray]) -> None:
        self._sequences, self.template_ids = value, None

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, idx: np.ndarray) -> "Sample":
        idx = np.asarray(idx, dtype=np.int64)
        levels = [self.levels[i] for i in idx] if self.levels is not None else None
        if self._sequences is None:
            return Sample(self.vectors.take(idx), None, [self.names[i] for i in idx], self.feature_names,
                          self.template_text, self.level, template_ids=self.template_ids[idx],  # type: ignore[index]
                          levels=levels)
        return Sample(self.vectors.take(idx), [self.sequences[i] for i in idx], [self.names[i] for i in idx],
                      self.feature_names, self.template_text, self.level, levels=levels)


# What made an item anomalous; every flagged record carries the kinds of its explanations (`anomaly_kinds`).
ANOMALY_KINDS = ("new_template", "rare_template", "severity", "sequence", "missing_step", "distance", "rate",
                 "session")


@dataclass
class Explanation:
    """Why an item was flagged: its kind, the evidence that drove it, its nearest normal neighbours."""

    kind: str  # one of ANOMALY_KINDS
    detector: str
    score: float
    threshold: float
    evidence: list[str] = field(default_factory=list)
    neighbours: list[tuple[str, float]] = field(default_factory=list)  # (name, cosine distance)

    def text(self) -> str:
        parts = [f"{self.kind.replace('_', ' ')} ({self.detector} {self.score:.3g} ≥ {self.threshold:.3g})"]
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

    @property
    def kinds(self) -> list[str]:
        """One per item: the kinds of its explanations, comma-joined in a fixed order, "" for normal items."""
        out = [""] * len(self.scores)
        for i, ex in self.explanations.items():
            out[i] = join_kinds(e.kind for e in ex)
        return out


def append_reason(reason: str, more: str) -> str:
    """A record's reason with another one after it (" | " between, as `Detections.reasons` joins them)."""
    return f"{reason} | {more}" if reason else more


def join_kinds(kinds) -> str:
    """Kinds as one comma-joined string, each once, in the order of ANOMALY_KINDS."""
    present = set(kinds)
    if "" in present:
        present.discard("")
    for k in list(present):
        if "," in k:
            present.discard(k)
            present.update(k.split(","))
    return ",".join(k for k in ANOMALY_KINDS if k in present)


class Detector:
    """Subclasses set `name`, implement `_fit`, `score` and `explain`; `fit` learns, then sets the threshold
    (`threshold`, a ThresholdConfig); `detect` ties them together.

    Constructor arguments are the parameters (scikit-learn's rule: no work in `__init__`), so `clone()` makes
    an unfitted copy: the held-out calibration fits one per fold.
    """

    name = "detector"
    # a baseline too small for the held-out quantile: a tail above the tied scores holding under this share
    # of the items is taken for the baseline's anomalies (see calibrate.robust_fence)
    min_tail = MIN_TAIL_SHARE
    # a baseline too small for the held-out quantile: `fence` or `max` (see calibrate.conformal_threshold)
    small_baseline = "fence"
    threshold: ThresholdConfig
    threshold_: float
    center_: float  # the baseline's typical score (median), for scaling scores across detectors

    def get_params(self) -> dict:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names if hasattr(self, p)}

    def clone(self) -> "Detector":
        return type(self)(**self.get_params())

    def fit(self, sample: Sample) -> "Detector":
        self._fit(sample)
        self._set_threshold(sample)
        self._after_threshold(sample)
        return self

    def _fit(self, sample: Sample) -> "Detector":
        raise NotImplementedError

    def _in_sample_scores(self, sample: Sample) -> tuple[np.ndarray, np.ndarray | None]:
        """(scores, weights) of the baseline by the fitted detector, for the in-sample methods."""
        return self.score(sample), None

    def _after_threshold(self, sample: Sample) -> None:
        """Work that needs the threshold (which baseline rows are normal, for explanations)."""

    def merge_templates(self, merges: dict[int, int]) -> None:
        """Templates merged after the fit (old id -> new id); a detector counting per template follows."""

    def held_out_scores(self, sample: Sample, folds: int) -> np.ndarray:
        """Each baseline item scored by a copy fitted on the other folds."""
        fold = fold_assignment(len(sample), folds)
        out = np.zeros(len(sample))
        for f in range(folds):
            held = np.flatnonzero(fold == f)
            part = self.clone()
            part.standing_in_for(len(sample))
            part._fit(sample.take(np.flatnonzero(fold != f)))
            out[held] = part.score(sample.take(held))
        return out

    def standing_in_for(self, n: int) -> None:
        """This copy is fitted on some folds of a baseline of n items, to score the others: a detector whose
        scores depend on how many items it saw makes them comparable with the whole baseline's (`novelty`)."""

    def small_baseline_rule(self, sample: Sample) -> str:
        """What stands in for the held-out quantile on a baseline too small to pin it (`small_baseline`)."""
        return self.small_baseline

    def _set_threshold(self, sample: Sample) -> None:
        cfg = self.threshold
        if holds_out(cfg, len(sample)):
            self.threshold_, self.center_ = conformal_threshold(self.held_out_scores(sample, cfg.folds), cfg,
                                                                self.min_tail, self.small_baseline_rule(sample))
        else:  # in-sample methods, and a baseline too small to split
            scores, weights = self._in_sample_scores(sample)
            self.threshold_, self.center_ = calibrate(scores, weights, cfg)

    def score(self, sample: Sample) -> np.ndarray:
        raise NotImplementedError

    def explain(self, sample: Sample, idx: np.ndarray, scores: np.ndarray) -> list[list[Explanation]]:
        raise NotImplementedError

    def check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {self.name} detector is not fitted yet: call fit() on a baseline first")

    def flag(self, scores: np.ndarray, sample: Sample) -> np.ndarray:
        return scores >= self.threshold_

    def detect(self, sample: Sample) -> Detections:
        self.check_fitted()
        scores = self.score(sample).astype(np.float32)
        flagged = self.flag(scores, sample)
        # an item flagged by a rule of its own (a detector's `flag`) scores at least the threshold, so that a
        # flagged item never reads as under it (explanations, an ensemble's scaled scores)
        scores = np.where(flagged, np.maximum(scores, np.float32(self.threshold_)), scores)
        idx = np.flatnonzero(flagged)
        explanations = dict(zip(idx.tolist(), self.explain(sample, idx, scores))) if len(idx) else {}
        return Detections(scores, flagged, explanations, float(self.threshold_))
