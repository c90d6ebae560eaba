"""Thresholds from baseline scores that a few anomalies in the baseline do not drag along."""

from __future__ import annotations

import numpy as np

from logvec.config import ThresholdConfig


def weighted_quantile(values: np.ndarray, weights: np.ndarray | None, q: float) -> float:
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return 0.0
    if weights is None:
        return float(np.quantile(values, q))
    order = np.argsort(values, kind="stable")
    v, w = values[order], np.asarray(weights, dtype=np.float64)[order]
    cum = np.cumsum(w) - 0.5 * w
    return float(np.interp(q * w.sum(), cum, v))


def calibrate(scores: np.ndarray, weights: np.ndarray | None, config: ThresholdConfig) -> tuple[float, float]:
    """(threshold, center) for baseline `scores` (each counted `weights` times)."""
    center = weighted_quantile(scores, weights, 0.5)
    if config.method == "quantile":
        return weighted_quantile(scores, weights, config.quantile), center
    if config.method == "contamination":
        return weighted_quantile(scores, weights, 1.0 - config.contamination), center
    dev = np.abs(np.asarray(scores, dtype=np.float64) - center)
    scale = 1.4826 * weighted_quantile(dev, weights, 0.5)
    if scale <= 1e-12:  # over half the baseline scores the same: the spread of the rest
        spread = dev > 1e-12
        if spread.any():
            scale = 1.4826 * weighted_quantile(dev[spread], None if weights is None else weights[spread], 0.5)
    if scale <= 1e-12:
        scale = max(abs(center), 1.0) * 1e-6
    return center + config.k * scale, center
