"""The baseline rows a detector keeps, to name a flagged item's nearest *normal* neighbours."""

from __future__ import annotations

import numpy as np

from logvec.detect.base import Sample


class Reference:
    """Distinct baseline rows (the most common `max_rows`), how many items had each, and one item's name."""

    def __init__(self, sample: Sample, max_rows: int = 20_000) -> None:
        used, first, counts = np.unique(sample.vectors.index, return_index=True, return_counts=True)
        rows, counts = sample.vectors.rows[used], counts.astype(np.float64)
        names = [sample.names[i] for i in first]
        if len(rows) > max_rows:  # keep the most common shapes
            keep = np.sort(np.argsort(-counts, kind="stable")[:max_rows])
            used, rows, counts, names = used[keep], rows[keep], counts[keep], [names[i] for i in keep]
        self.rows, self.counts, self.names = rows, counts, names
        self.source = used  # the sample row each reference row is
        self.normal = np.ones(len(rows), dtype=bool)

    def nearest_normal(self, X: np.ndarray, k: int = 3) -> list[list[tuple[str, float, int]]]:
        """For each row of X: up to k (name, cosine distance, reference row) of normal baseline rows."""
        normal = np.flatnonzero(self.normal)
        if not len(normal) or not len(X):
            return [[] for _ in range(len(X))]
        sims = X @ self.rows[normal].T
        out = []
        for s in sims:
            top = np.argsort(-s)[:k]
            out.append([(self.names[normal[t]], float(max(0.0, 1.0 - s[t])), int(normal[t])) for t in top])
        return out
