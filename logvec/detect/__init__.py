"""Detectors: fitted on a baseline, they score lines or sessions (higher is more anomalous) and say why."""

from __future__ import annotations

from logvec.detect.base import Detections, Detector, Explanation, Sample
from logvec.detect.ensemble import EnsembleDetector
from logvec.detect.novelty import NoveltyDetector
from logvec.detect.outliers import IsolationForestDetector, KnnDetector, LofDetector, PcaDetector

__all__ = ["Detections", "Detector", "Explanation", "Sample", "make_detector", "NoveltyDetector",
           "KnnDetector", "LofDetector", "IsolationForestDetector", "PcaDetector", "EnsembleDetector"]

_OUTLIERS = {"knn": KnnDetector, "lof": LofDetector, "isolation_forest": IsolationForestDetector,
             "pca": PcaDetector}


def make_detector(config) -> Detector | None:
    """The detector a DetectorConfig describes; None for `type: none`."""
    if config.type == "none":
        return None
    if config.type == "ensemble":
        return EnsembleDetector([make_detector(m) for m in config.members], config.combine, config.threshold)
    params = config.model_dump(exclude={"type", "threshold", "severity"})
    if config.type == "novelty":
        return NoveltyDetector(severity=config.severity, threshold=config.threshold, **params)
    return _OUTLIERS[config.type](threshold=config.threshold, **params)
