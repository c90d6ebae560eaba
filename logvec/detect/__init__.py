"""Detectors: fitted on a baseline, they score lines or sessions (higher is more anomalous) and say why."""

from __future__ import annotations

from logvec.config import (
    DetectorConfig,
    EnsembleDetectorConfig,
    MemberConfig,
    NoDetectorConfig,
    NoveltyDetectorConfig,
)
from logvec.detect.base import Detections, Detector, Explanation, Sample
from logvec.detect.ensemble import EnsembleDetector
from logvec.detect.novelty import NoveltyDetector
from logvec.detect.outliers import IsolationForestDetector, KnnDetector, LofDetector, PcaDetector

__all__ = ["Detections", "Detector", "Explanation", "Sample", "make_detector", "NoveltyDetector",
           "KnnDetector", "LofDetector", "IsolationForestDetector", "PcaDetector", "EnsembleDetector"]

_OUTLIERS = {"knn": KnnDetector, "lof": LofDetector, "isolation_forest": IsolationForestDetector,
             "pca": PcaDetector}


def make_detector(config: DetectorConfig) -> Detector | None:
    """The detector a `detector:` section describes; None for `type: none`."""
    if isinstance(config, NoDetectorConfig):
        return None
    if isinstance(config, EnsembleDetectorConfig):
        return EnsembleDetector([_member(m) for m in config.members], config.combine, config.threshold)
    return _member(config)


def _member(config: MemberConfig) -> Detector:
    params = config.model_dump(exclude={"type", "threshold", "severity"})
    if isinstance(config, NoveltyDetectorConfig):
        return NoveltyDetector(severity=config.severity, threshold=config.threshold, **params)
    return _OUTLIERS[config.type](threshold=config.threshold, **params)
