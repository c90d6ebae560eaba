"""Several detectors as one: `max` of scores in units of each member's threshold, or `mean_rank`.

`mean_rank` ranks each member's score among that member's held-out baseline scores (each baseline item scored
by a fit on the other folds), so a repeated baseline item does not rank itself; the mean rank's threshold is
the held-out rule of `threshold`, or an in-sample method's."""

from __future__ import annotations

import numpy as np

from logvec.config import ThresholdConfig
from logvec.detect.base import Detections, Detector, Explanation, Sample
from logvec.detect.calibrate import calibrate, conformal_threshold, holds_out


class EnsembleDetector(Detector):
    name = "ensemble"

    def __init__(self, members: list[Detector], combine: str = "max", threshold: ThresholdConfig | None = None):
        self.members = members
        self.combine = combine
        self.threshold = threshold or ThresholdConfig()

    def _scaled(self, member: Detector, scores: np.ndarray) -> np.ndarray:
        """Member scores rescaled so that its median is 0 and its threshold is 1."""
        span = member.threshold_ - member.center_
        return (scores - member.center_) / (span if abs(span) > 1e-12 else 1.0)

    def _ranks(self, i: int, scores: np.ndarray) -> np.ndarray:
        base = self.baseline_sorted_[i]
        # mid-rank: a score tied with many baseline scores (repeats all score 0) sits in the middle of the tie
        mid = (np.searchsorted(base, scores, side="left") + np.searchsorted(base, scores, side="right")) / 2
        return mid / max(len(base), 1)

    def fit(self, sample: Sample) -> "EnsembleDetector":
        for m in self.members:
            m.fit(sample)
        if self.combine == "max":
            self.threshold_, self.center_ = 1.0, 0.0
            return self
        cfg = self.threshold
        held_out = holds_out(cfg, len(sample))
        member_scores = [m.held_out_scores(sample, cfg.folds) if held_out else m.score(sample) for m in self.members]
        self.baseline_sorted_ = [np.sort(s) for s in member_scores]
        combined = np.mean([self._ranks(i, s) for i, s in enumerate(member_scores)], axis=0)
        self.threshold_, self.center_ = (conformal_threshold(combined, cfg) if held_out
                                         else calibrate(combined, None, cfg))
        return self

    def detect(self, sample: Sample) -> Detections:
        results = [m.detect(sample) for m in self.members]
        if self.combine == "max":
            scaled = np.stack([self._scaled(m, r.scores) for m, r in zip(self.members, results)])
            scores = scaled.max(axis=0)
            flagged = np.logical_or.reduce([r.is_anomaly for r in results])
        else:
            scores = np.mean([self._ranks(i, r.scores) for i, r in enumerate(results)], axis=0)
            flagged = scores >= self.threshold_
        explanations: dict[int, list[Explanation]] = {}
        for i in np.flatnonzero(flagged).tolist():
            explanations[i] = [e for r in results for e in r.explanations.get(i, [])]
            if not explanations[i]:  # mean_rank can flag what no member flagged alone
                explanations[i] = [Explanation("distance", self.name, float(scores[i]),
                                               float(self.threshold_),
                                               [f"{m.name} percentile {self._ranks(j, r.scores[i:i + 1])[0]:.3f}"
                                                for j, (m, r) in enumerate(zip(self.members, results))])]
        return Detections(scores.astype(np.float32), flagged, explanations, float(self.threshold_))

    def score(self, sample: Sample) -> np.ndarray:
        return self.detect(sample).scores

    def merge_templates(self, merges: dict[int, int]) -> None:
        for m in self.members:
            m.merge_templates(merges)

    def explain(self, sample: Sample, idx: np.ndarray, scores: np.ndarray) -> list[list[Explanation]]:
        d = self.detect(sample.take(idx))
        return [d.explanations.get(j, []) for j in range(len(idx))]
