"""Classic log anomaly detectors over an event-count matrix (one row per session, one column per template).

Each has `fit(X)` on the training sessions and `score(X)` / `predict(X)` on new ones, with the threshold rule
its paper gives: the peers run as published, not re-tuned per case.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats


def idf_weights(X: np.ndarray) -> np.ndarray:
    n = max(len(X), 1)
    df = (X > 0).sum(axis=0)
    return np.log((n + 1) / (df + 1)) + 1.0


class PcaSpe:
    """Squared prediction error off the principal subspace of tf-idf weighted, centred counts; the threshold is
    the Q-statistic at confidence 1-alpha (Jackson & Mudholkar), as Xu et al. use it."""

    def __init__(self, variance: float = 0.95, alpha: float = 0.001) -> None:
        self.variance, self.alpha = variance, alpha

    def _prep(self, X: np.ndarray) -> np.ndarray:
        return X * self.idf_ - self.mean_

    def fit(self, X: np.ndarray) -> "PcaSpe":
        self.idf_ = idf_weights(X)
        self.mean_ = (X * self.idf_).mean(axis=0)
        Y = self._prep(X)
        _, s, vt = np.linalg.svd(Y, full_matrices=False)
        lam = s**2 / max(len(X) - 1, 1)
        ratio = np.cumsum(lam) / max(lam.sum(), 1e-12)
        k = int(np.searchsorted(ratio, self.variance) + 1)
        self.P_ = vt[:k]
        rest = lam[k:]
        phi = [np.sum(rest**i) for i in (1, 2, 3)]
        if phi[0] <= 1e-12:
            self.threshold_ = 1e-9
            return self
        h0 = 1.0 - 2.0 * phi[0] * phi[2] / (3.0 * phi[1] ** 2)
        c = stats.norm.ppf(1 - self.alpha)
        self.threshold_ = phi[0] * (c * np.sqrt(2 * phi[1] * h0**2) / phi[0] + 1
                                    + phi[1] * h0 * (h0 - 1) / phi[0] ** 2) ** (1.0 / h0)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        Y = self._prep(X)
        r = Y - (Y @ self.P_.T) @ self.P_
        return (r**2).sum(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.score(X) > self.threshold_


class InvariantMining:
    """Linear invariants between pairs of event counts that hold in at least `support` of the training
    sessions where either event occurs: c_a·a = c_b·b for small coprime integers (a, b). A session breaking any
    invariant is anomalous; its score is how many it breaks. (Lou et al. also search three-event invariants;
    pairs find the workflow invariants of these logs: "opened" = "closed", "allocated" = 3 × "received".)"""

    def __init__(self, support: float = 0.98, max_coef: int = 3, min_sessions: int = 10) -> None:
        self.support, self.max_coef, self.min_sessions = support, max_coef, min_sessions

    def fit(self, X: np.ndarray) -> "InvariantMining":
        active = np.flatnonzero((X > 0).sum(axis=0) >= self.min_sessions)
        coefs = range(1, self.max_coef + 1)
        inv = []
        for i, j in itertools.combinations(active.tolist(), 2):
            rows = (X[:, i] > 0) | (X[:, j] > 0)
            if rows.sum() < self.min_sessions:
                continue
            for a, b in itertools.product(coefs, coefs):
                if np.gcd(a, b) != 1:
                    continue
                held = np.mean(X[rows, i] * a == X[rows, j] * b)
                if held >= self.support:
                    v = np.zeros(X.shape[1])
                    v[i], v[j] = a, -b
                    inv.append(v)
                    break
        self.invariants_ = np.array(inv) if inv else np.zeros((0, X.shape[1]))
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        if not len(self.invariants_):
            return np.zeros(len(X))
        width = self.invariants_.shape[1]
        Xc = X[:, :width] if X.shape[1] >= width else np.pad(X, ((0, 0), (0, width - X.shape[1])))
        return (np.abs(Xc @ self.invariants_.T) > 1e-9).sum(axis=1).astype(float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.score(X) > 0


class LogClustering:
    """Sessions as idf-weighted, L2-normalized count vectors, clustered (agglomerative, cosine distance
    `max_dist`) into a knowledge base of normal clusters; a new session farther than `threshold` from every
    centroid is anomalous (Lin et al.; loglizer's defaults: 0.3 and 0.3)."""

    def __init__(self, max_dist: float = 0.3, threshold: float = 0.3) -> None:
        self.max_dist, self.threshold = max_dist, threshold

    def _vec(self, X: np.ndarray) -> np.ndarray:
        Y = np.log1p(X) * self.idf_
        return Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)

    def fit(self, X: np.ndarray) -> "LogClustering":
        from scipy.cluster.hierarchy import fcluster, linkage

        self.idf_ = idf_weights(X)
        rows, counts = np.unique(X, axis=0, return_counts=True)
        V = self._vec(rows)
        if len(V) == 1:
            self.centroids_ = V
            return self
        labels = fcluster(linkage(V, method="average", metric="cosine"), self.max_dist, criterion="distance")
        cents = [np.average(V[labels == c], axis=0, weights=counts[labels == c]) for c in np.unique(labels)]
        C = np.array(cents)
        self.centroids_ = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        return 1.0 - (self._vec(X) @ self.centroids_.T).max(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.score(X) > self.threshold


class IsolationForestPeer:
    """scikit-learn's IsolationForest on raw event counts, its own `contamination='auto'` offset."""

    def __init__(self, n_estimators: int = 100, random_state: int = 0) -> None:
        self.n_estimators, self.random_state = n_estimators, random_state

    def fit(self, X: np.ndarray) -> "IsolationForestPeer":
        from sklearn.ensemble import IsolationForest

        self.model_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state).fit(X)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        return -self.model_.score_samples(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X) == -1


PEERS = {"pca_spe": PcaSpe, "invariants": InvariantMining, "log_clustering": LogClustering,
         "isolation_forest": IsolationForestPeer}
