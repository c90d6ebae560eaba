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
    """(threshold, center) for in-sample baseline `scores` (each counted `weights` times)."""
    center = weighted_quantile(scores, weights, 0.5)
    if config.method == "quantile":
        return weighted_quantile(scores, weights, config.quantile), center
    if config.method == "contamination":
        return weighted_quantile(scores, weights, 1.0 - config.contamination), center
    return robust_fence(scores, weights, config.k, min_tail=0.0), center


# Over half the scores tied: a tail above the tie holding under this share of the items is taken for the
# baseline's anomalies, not for a population of its own.
MIN_TAIL_SHARE = 0.01


def robust_fence(scores: np.ndarray, weights: np.ndarray | None, k: float,
                 min_tail: float = MIN_TAIL_SHARE) -> float:
    """Median + k robust spreads (1.4826 × MAD), which a few anomalies among the scores barely move."""
    center = weighted_quantile(scores, weights, 0.5)
    dev = np.abs(np.asarray(scores, dtype=np.float64) - center)
    scale = 1.4826 * weighted_quantile(dev, weights, 0.5)
    # float noise: scores are O(1) (decades of rarity, cosine distances, squared residuals of unit vectors),
    # and a repeat of a baseline item scores ~1e-7 in float32 (knn) or ~1e-9 after an SVD (pca), not 0
    tol = 1e-6 * max(abs(center), 1.0)
    if scale <= tol:
        # Over half the baseline ties (common shapes score 0): the tail is its own population, and the
        # threshold is robust within it: its median plus k robust spreads. A small tail (MIN_TAIL_SHARE) is
        # no population: it is what the baseline's anomalies look like, and the threshold stays by the tie
        # (half the tied score again above it: a refit on more data moves a tied score a little).
        tail = dev > tol
        w = np.ones(len(dev)) if weights is None else np.asarray(weights, dtype=np.float64)
        if not tail.any() or w[tail].sum() < min_tail * w.sum():
            return center + max(tol, 1e-5, 0.5 * abs(center))
        tail_scores = np.asarray(scores, dtype=np.float64)[tail]
        tail_w = None if weights is None else np.asarray(weights, dtype=np.float64)[tail]
        tail_center = weighted_quantile(tail_scores, tail_w, 0.5)
        tail_scale = 1.4826 * weighted_quantile(np.abs(tail_scores - tail_center), tail_w, 0.5)
        return tail_center + max(k * tail_scale, tol)
    return center + k * scale


def holds_out(config: ThresholdConfig, n: int) -> bool:
    """Whether a baseline of n items is split into folds: the held-out method, and enough items to split."""
    return config.method == "holdout" and n >= 2 * config.folds


def fold_assignment(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """Each of n items' fold, shuffled and balanced (a fixed seed: one baseline gives one threshold)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) % folds)


def conformal_threshold(held_out: np.ndarray, config: ThresholdConfig, min_tail: float = MIN_TAIL_SHARE,
                        small: str = "fence") -> tuple[float, float]:
    """(threshold, center) from held-out baseline scores: the ⌈(n+1)(1-α)⌉-th smallest score, the split
    conformal rule under which a new normal item scores above it with probability at most α. A margin above
    it keeps float noise (a repeat of a normal item scoring 1e-7 instead of 0) from crossing it.

    With fewer held-out items than that rule needs, `small` says what stands in: the robust fence of the
    held-out scores (`fence`: any anomaly the baseline holds would otherwise set the threshold), or the largest
    held-out score (`max`: what the rule would take, the cautious choice for a detector whose small baseline
    leaves most held-out items no residual at all, so that the fence would sit on the tie). The fence is never
    above the largest held-out score."""
    scores = np.sort(np.asarray(held_out, dtype=np.float64))
    if not len(scores):
        return 0.0, 0.0
    n = len(scores)
    rank = int(np.ceil((n + 1) * (1.0 - config.false_alarm_rate)))
    center = float(np.median(scores))
    q = float(scores[min(rank, n) - 1])  # the rule's score; with too few items, the largest
    threshold = q + max(1e-5, 1e-4 * abs(q))
    if rank >= n and small == "fence":
        # never above what the rule itself would take: a fence past every held-out score (a wide tail of rare
        # items) would leave nothing as unusual as the baseline's own most unusual item flaggable
        return min(robust_fence(scores, None, config.k, min_tail), threshold), center
    return threshold, center
