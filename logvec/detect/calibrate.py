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
    cum = np.cumsum(w)
    return float(v[min(int(np.searchsorted(cum, q * cum[-1])), len(v) - 1)])


def calibrate(scores: np.ndarray, weights: np.ndarray | None, config: ThresholdConfig) -> tuple[float, float]:
    """(threshold, center) for baseline `scores` (each counted `weights` times)."""
    center = weighted_quantile(scores, weights, 0.5)
    if config.method == "quantile":
        return weighted_quantile(scores, weights, config.quantile), center
    if config.method == "contamination":
        return weighted_quantile(scores, weights, 1.0 - config.contamination), center
    dev = np.abs(np.asarray(scores, dtype=np.float64) - center)
    scale = 1.4826 * weighted_quantile(dev, weights, 0.5)
    tol = 1e-9 * max(abs(center), 1.0)
    if scale <= tol:
        # Over half the baseline ties (common shapes score 0): the tail is its own population, and the
        # threshold is robust within it: its median plus k robust spreads.
        tail = dev > tol
        if not tail.any():
            return center + tol, center
        tail_scores = np.asarray(scores, dtype=np.float64)[tail]
        tail_w = None if weights is None else np.asarray(weights, dtype=np.float64)[tail]
        tail_center = weighted_quantile(tail_scores, tail_w, 0.5)
        tail_scale = 1.4826 * weighted_quantile(np.abs(tail_scores - tail_center), tail_w, 0.5)
        return tail_center + max(config.k * tail_scale, tol), center
    return center + config.k * scale, center
