"""The detector contract shared by every detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from logvec.records import RecordBatch
from logvec.vectorize.base import Vectors


@dataclass
class Detections:
    scores: np.ndarray  # float32, higher = more anomalous
    is_anomaly: np.ndarray  # bool
    reasons: list[str]  # "" for normal records


class Detector:
    """`fit(records, vectors)` on a baseline, then `detect(records, vectors) -> Detections`."""

    def fit(self, records: RecordBatch, vectors: Vectors) -> "Detector":
        raise NotImplementedError

    def detect(self, records: RecordBatch, vectors: Vectors) -> Detections:
        raise NotImplementedError
