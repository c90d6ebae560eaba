"""Template novelty: a line whose template never or rarely appeared in the baseline is suspicious.

Cheap and explainable, so it is the default first line of defence; the score is the template's surprisal
relative to the baseline, scaled to [0, 1] (1 = never seen).
"""

from __future__ import annotations

import numpy as np

from logvec.detect.base import Detections, Detector
from logvec.records import RecordBatch
from logvec.vectorize.base import Vectors


class NoveltyDetector(Detector):
    def __init__(self, rare_fraction: float = 0.0005) -> None:
        self.rare_fraction = rare_fraction

    def fit(self, records: RecordBatch, vectors: Vectors) -> "NoveltyDetector":
        ids, counts = np.unique(records.template_ids, return_counts=True)
        self.baseline_counts_ = dict(zip(ids.tolist(), counts.tolist()))
        self.n_baseline_ = int(len(records))
        return self

    def detect(self, records: RecordBatch, vectors: Vectors) -> Detections:
        n = max(self.n_baseline_, 1)
        uniq, inverse = np.unique(records.template_ids, return_inverse=True)
        counts = np.array([self.baseline_counts_.get(int(t), 0) for t in uniq], dtype=np.float64)
        score_u = (1.0 - np.log1p(counts) / np.log1p(n)).astype(np.float32)
        flag_u = counts < self.rare_fraction * n
        flag_u |= counts == 0
        reason_u = [
            ("new template: never seen in the baseline of %d lines" % n)
            if c == 0
            else ("rare template: %d of %d baseline lines" % (c, n)) if f else ""
            for c, f in zip(counts.astype(int).tolist(), flag_u.tolist())
        ]
        return Detections(score_u[inverse], flag_u[inverse], [reason_u[i] for i in inverse])


class NullDetector(Detector):
    """No detection: every record is normal (for pure similarity-search deployments)."""

    def fit(self, records: RecordBatch, vectors: Vectors) -> "NullDetector":
        return self

    def detect(self, records: RecordBatch, vectors: Vectors) -> Detections:
        n = len(records)
        return Detections(np.zeros(n, dtype=np.float32), np.zeros(n, dtype=bool), [""] * n)
