"""Outlier detectors over the feature vectors: `knn`, `lof`, `isolation_forest`, `pca`.

They work on distinct rows with their counts (log lines repeat their shape), so fitting and scoring cost
what the distinct shapes cost, not what the lines cost. Each keeps a reference set of baseline rows to
name the nearest *normal* neighbours of a flagged item and the features that set it apart from them.
"""

from __future__ import annotations

import numpy as np

from logvec.config import ThresholdConfig
from logvec.detect.base import Detector, Explanation, Sample
from logvec.detect.calibrate import calibrate


def _distinct_with_counts(sample: Sample) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Distinct rows used by the sample, how many items use each, and one item name for each."""
    used, first, counts = np.unique(sample.vectors.index, return_index=True, return_counts=True)
    return sample.vectors.rows[used], counts.astype(np.float64), [sample.names[i] for i in first]


class VectorDetector(Detector):
    """Shared fit/score/explain plumbing; subclasses implement `_fit_rows` and `_score_rows`."""

    kind = "far from neighbours"

    def __init__(self, threshold: ThresholdConfig | None = None, max_reference: int = 20_000) -> None:
        self.threshold = threshold or ThresholdConfig()
        self.max_reference = max_reference

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        raise NotImplementedError

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        raise NotImplementedError

    def fit(self, sample: Sample) -> "VectorDetector":
        rows, counts, names = _distinct_with_counts(sample)
        if len(rows) > self.max_reference:  # keep the most common shapes
            keep = np.sort(np.argsort(-counts, kind="stable")[: self.max_reference])
            rows, counts, names = rows[keep], counts[keep], [names[i] for i in keep]
        self.ref_rows_, self.ref_counts_, self.ref_names_ = rows, counts, names
        self._fit_rows(rows, counts)
        baseline_scores = self._score_rows(rows, baseline=True)
        self.threshold_, self.center_ = calibrate(baseline_scores, counts, self.threshold)
        self.ref_normal_ = baseline_scores < self.threshold_
        self.feature_names_ = sample.feature_names
        return self

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
        normal = np.flatnonzero(self.ref_normal_)
        X = sample.vectors.rows[sample.vectors.index[idx]]
        out = []
        sims = X @ self.ref_rows_[normal].T if len(normal) else np.zeros((len(idx), 0))
        for j, i in enumerate(idx.tolist()):
            near = np.argsort(-sims[j])[:3] if sims.shape[1] else np.zeros(0, np.int64)
            neighbours = [(self.ref_names_[normal[n]], float(max(0.0, 1.0 - sims[j, n]))) for n in near]
            top = self._contributions(X[j], self.ref_rows_[normal[near[0]]] if len(near) else None)
            evidence = [f"differs most in: {', '.join(top)}"] if top else []
            out.append([Explanation(self.kind, self.name, float(scores[i]), float(self.threshold_), evidence,
                                    neighbours)])
        return out


class KnnDetector(VectorDetector):
    """Mean cosine distance to the k nearest baseline items, repeats counted (a shape seen k times scores 0)."""

    name = "knn"

    def __init__(self, k: int = 5, **kw) -> None:
        super().__init__(**kw)
        self.k = k

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        pass

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        ref, counts = self.ref_rows_, self.ref_counts_
        m = min(len(ref), self.k + 1 + 32)
        out = np.empty(len(rows))
        for start in range(0, len(rows), 1024):
            sims = rows[start:start + 1024] @ ref.T
            top = np.argpartition(-sims, m - 1, axis=1)[:, :m] if m < len(ref) else np.tile(np.arange(len(ref)), (len(sims), 1))
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
    """Local outlier factor (scikit-learn), fitted on the distinct baseline rows."""

    name = "lof"

    def __init__(self, n_neighbors: int = 20, **kw) -> None:
        super().__init__(**kw)
        self.n_neighbors = n_neighbors

    def _fit_rows(self, rows: np.ndarray, counts: np.ndarray) -> None:
        from sklearn.neighbors import LocalOutlierFactor

        self.model_ = None
        if len(rows) > 2:
            self.model_ = LocalOutlierFactor(n_neighbors=min(self.n_neighbors, len(rows) - 1), novelty=True,
                                             metric="cosine").fit(rows)

    def _score_rows(self, rows: np.ndarray, baseline: bool = False) -> np.ndarray:
        if self.model_ is None:
            return np.zeros(len(rows))
        if baseline:
            return -self.model_.negative_outlier_factor_
        return -self.model_.score_samples(rows)


class IsolationForestDetector(VectorDetector):
    """Isolation forest (scikit-learn), repeats weighted by their counts."""

    name = "isolation_forest"

    def __init__(self, n_estimators: int = 200, random_state: int = 0, **kw) -> None:
        super().__init__(**kw)
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
    kind = "unusual mix"

    def __init__(self, variance: float = 0.95, **kw) -> None:
        super().__init__(**kw)
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
