"""Outlier detectors over the feature vectors: `knn`, `lof`, `isolation_forest`, `pca`.

They work on distinct rows with their counts (log lines repeat their shape), so fitting and scoring cost
what the distinct shapes cost, not what the lines cost. Each keeps a reference set of baseline rows to
name the nearest *normal* neighbours of a flagged item and the features that set it apart from them.
"""

from __future__ import annotations

import numpy as np

from logvec.config import ThresholdConfig
from logvec.detect.base import Detector, Explanation, Sample
from logvec.detect.neighbours import Reference


class VectorDetector(Detector):
    """Shared fit/score/explain plumbing; subclasses implement `_fit_rows` and `_score_rows`."""

    kind = "distance"
    # On a baseline too small for the held-out quantile most held-out items sit in the fitted neighbourhood
    # (no residual, a repeat at distance 0), so a fence would sit on that tie and flag any new combination of
    # known steps; the largest held-out distance is the cautious threshold. New templates are novelty's to flag.
    small_baseline = "max"

    def __init__(self, threshold: ThresholdConfig | None = None, max_reference: int = 20_000) -> None:
        self.threshold = threshold or ThresholdConfig()
        self.max_reference = max_reference

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        raise NotImplementedError

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, sample: Sample) -> "VectorDetector":
        self.reference_ = ref = Reference(sample, self.max_reference)
        self._fit_rows(ref.rows, ref.counts)
        self.feature_names_ = sample.feature_names
        return self

    def _in_sample_scores(self, sample: Sample) -> tuple[np.ndarray, np.ndarray | None]:
        return self._score_rows(self.reference_.rows, baseline=True), self.reference_.counts

    def _after_threshold(self, sample: Sample) -> None:
        self.reference_.normal = self._score_rows(self.reference_.rows, baseline=True) < self.threshold_

    def score(self, sample: Sample) -> np.ndarray:
        rows = sample.vectors.rows
        if not len(rows):
            return np.zeros(len(sample))
        return self._score_rows(rows)[sample.vectors.index]

    def _contributions(self, x: np.ndarray, neighbour: np.ndarray | None) -> list[str]:
        """The features that differ most from the nearest normal neighbour (+ more here, - fewer here)."""
        diff = x - neighbour if neighbour is not None else x
        top = np.argsort(-np.abs(diff))[:5]
        names = self.feature_names_
        return [f"{'+' if diff[j] > 0 else '-'}{names[j] if j < len(names) else j}" for j in top if abs(diff[j]) > 1e-6]

    def explain(self, sample: Sample, idx: np.ndarray, scores: np.ndarray) -> list[list[Explanation]]:
        X = sample.vectors.rows[sample.vectors.index[idx]]
        out = []
        for j, (i, near) in enumerate(zip(idx.tolist(), self.reference_.nearest_normal(X))):
            top = self._contributions(X[j], self.reference_.rows[near[0][2]] if near else None)
            evidence = [f"differs most in: {', '.join(top)}"] if top else []
            out.append([Explanation(self.kind, self.name, float(scores[i]), float(self.threshold_), evidence,
                                    [(name, dist) for name, dist, _ in near])])
        return out


class KnnDetector(VectorDetector):
    """Mean cosine distance to the k nearest baseline items, repeats counted (a shape seen k times scores 0)."""

    name = "knn"

    def __init__(self, k: int = 5, threshold: ThresholdConfig | None = None, max_reference: int = 20_000) -> None:
        super().__init__(threshold, max_reference)
        self.k = k

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        pass

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        ref, counts = self.reference_.rows, self.reference_.counts
        m = min(len(ref), self.k + 1 + 32)
        out = np.empty(len(rows))
        for start in range(0, len(rows), 1024):
            sims = rows[start:start + 1024] @ ref.T
            top = (np.argpartition(-sims, m - 1, axis=1)[:, :m] if m < len(ref)
                   else np.tile(np.arange(len(ref)), (len(sims), 1)))
            top_sims = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-top_sims, axis=1)
            top, top_sims = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)
            c = counts[top].copy()
            if baseline:  # an item is not its own neighbour
                c[top == (np.arange(start, start + len(sims)))[:, None]] -= 1
            before = np.cumsum(c, axis=1) - c
            take = np.clip(self.k - before, 0, c)
            dist = np.clip(1.0 - top_sims, 0.0, 2.0)
            out[start:start + len(sims)] = (take * dist).sum(axis=1) / np.maximum(take.sum(axis=1), 1)
        return out


class LofDetector(VectorDetector):
    """Local outlier factor (scikit-learn). Density needs multiplicity, so each distinct baseline row enters
    as often as it was seen, up to `n_neighbors` times (enough to make a common shape dense)."""

    name = "lof"

    def __init__(self, n_neighbors: int = 20,
                 threshold: ThresholdConfig | None = None, max_reference: int = 20_000) -> None:
        super().__init__(threshold, max_reference)
        self.n_neighbors = n_neighbors

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        from sklearn.neighbors import LocalOutlierFactor

        repeats = np.minimum(counts, self.n_neighbors).astype(np.int64)
        expanded = np.repeat(rows, repeats, axis=0)
        self.model_ = None
        if len(expanded) > 2:
            self.model_ = LocalOutlierFactor(n_neighbors=min(self.n_neighbors, len(expanded) - 1), novelty=True)
            self.model_.fit(expanded)
            first = np.concatenate([[0], np.cumsum(repeats)[:-1]])
            self._baseline = -self.model_.negative_outlier_factor_[first]

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        if self.model_ is None:
            return np.zeros(len(rows))
        if baseline:
            return self._baseline
        return -self.model_.score_samples(rows)


class IsolationForestDetector(VectorDetector):
    """Isolation forest (scikit-learn), repeats weighted by their counts."""

    name = "isolation_forest"

    def __init__(self, n_estimators: int = 200, random_state: int = 0,
                 threshold: ThresholdConfig | None = None, max_reference: int = 20_000) -> None:
        super().__init__(threshold, max_reference)
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        self.model_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state)
        self.model_.fit(rows, sample_weight=counts)

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        return -self.model_.score_samples(rows)


class PcaDetector(VectorDetector):
    """Squared prediction error: distance from the principal subspace of the baseline (weighted PCA)."""

    name = "pca"

    def __init__(self, variance: float = 0.95,
                 threshold: ThresholdConfig | None = None, max_reference: int = 20_000) -> None:
        super().__init__(threshold, max_reference)
        self.variance = variance

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        w = counts / counts.sum()
        self.mean_ = (rows * w[:, None]).sum(axis=0)
        centered = (rows - self.mean_) * np.sqrt(w)[:, None]
        _, s, vt = np.linalg.svd(centered, full_matrices=False)
        var = s**2
        ratio = np.cumsum(var) / var.sum() if var.sum() > 0 else np.ones(len(var))
        k = int(np.searchsorted(ratio, self.variance) + 1)
        self.components_ = vt[:k]

    def _residual(self, rows: np.ndarray) -> np.ndarray:
        c = rows - self.mean_
        return c - (c @ self.components_.T) @ self.components_

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        return (self._residual(rows) ** 2).sum(axis=1)

    def _contributions(self, x: np.ndarray, neighbour: np.ndarray | None) -> list[str]:
        return super()._contributions(self._residual(x[None])[0], None)
