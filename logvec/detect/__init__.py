"""Detectors: fitted on a baseline, they score each record (higher is more anomalous) and say why."""

from __future__ import annotations

from logvec.detect.base import Detections, Detector
from logvec.detect.novelty import NoveltyDetector, NullDetector

__all__ = ["Detections", "Detector", "NoveltyDetector", "NullDetector", "make_detector"]


def make_detector(config) -> Detector:  # config: one of the DetectorConfig models
    if config.type == "none":
        return NullDetector()
    return NoveltyDetector(rare_fraction=config.rare_fraction)
