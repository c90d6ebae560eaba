"""What every vectorizer is: scikit-learn style (`fit`, `transform`, parameters in the constructor), with
float32 rows, L2-normalized, and each distinct text vectorized once.

Log lines repeat their masked shape far more often than not, so `transform_unique` vectorizes each distinct
masked line once per batch (and remembers it across batches), then fans the rows back out by index.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from logvec.errors import NotFittedError
from logvec.metrics import VECTORIZER_CACHE
from logvec.records import unique_inverse


@dataclass
class Vectors:
    """N vectors stored as U distinct rows plus, for each of the N, the index of its row."""

    rows: np.ndarray  # (U, dim) float32
    index: np.ndarray  # (N,) int64 into rows
    # what each row was computed from (its masked line), when known: the same key, the same vector, so a store
    # that met the key before knows the row's place without hashing it again
    keys: list[str] | None = None

    def __len__(self) -> int:
        return len(self.index)

    @property
    def dim(self) -> int:
        return int(self.rows.shape[1])

    def dense(self) -> np.ndarray:
        return self.rows[self.index]

    def take(self, idx: np.ndarray) -> "Vectors":
        return Vectors(self.rows, self.index[np.asarray(idx, dtype=np.int64)], self.keys)

    @classmethod
    def from_dense(cls, matrix: np.ndarray) -> "Vectors":
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"vectors must be a 2-D matrix, got shape {matrix.shape}")
        rows, index = np.unique(matrix, axis=0, return_inverse=True)
        return cls(np.ascontiguousarray(rows), index.reshape(-1).astype(np.int64))


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in place; an all-zero row (nothing known in it) stays zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


class BaseVectorizer:
    """Subclasses implement `fit(texts)` and `_transform_texts(unique_texts) -> (U, dim) float32`."""

    kind = "base"
    cache_size = 0
    cache_memory: int | None = None  # bytes the cache may hold (None: cache_size alone bounds it)

    def fit(self, texts: list[str]) -> "BaseVectorizer":
        raise NotImplementedError

    def _transform_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def feature_names(self) -> list[str]:
        """One name per dimension, for explanations."""
        return [f"dim{i}" for i in range(self.dim)]

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() first")

    def transform_unique(self, texts: list[str]) -> Vectors:
        """Vectors for `texts`, each distinct text computed once, and remembered across calls in a
        least-recently-used cache of `cache_size` texts and at most `cache_memory` bytes of vectors (so a new shape
        mid-stream is computed, never guessed, and a stream of ever new lines cannot grow the process)."""
        self._check_fitted()
        uniq, inverse = unique_inverse(texts)
        cache: OrderedDict[str, np.ndarray] = self.__dict__.setdefault("_cache", OrderedDict())
        rows = np.empty((len(uniq), self.dim), dtype=np.float32)
        missing = []
        for i, t in enumerate(uniq):
            hit = cache.get(t)
            if hit is None:
                missing.append(i)
            else:
                rows[i] = hit
                cache.move_to_end(t)
        hits = len(uniq) - len(missing)
        self.cache_hits = getattr(self, "cache_hits", 0) + hits
        self.cache_misses = getattr(self, "cache_misses", 0) + len(missing)
        VECTORIZER_CACHE.labels(self.kind, "hit").inc(hits)
        VECTORIZER_CACHE.labels(self.kind, "miss").inc(len(missing))
        if missing:
            computed = self._transform_texts([uniq[i] for i in missing])
            rows[missing] = computed
            limit = self.cache_limit()
            if limit:
                for i, row in zip(missing, computed):
                    cache[uniq[i]] = row.copy()  # a view would keep the whole batch's matrix alive
                while len(cache) > limit:
                    cache.popitem(last=False)
        return Vectors(rows, inverse)

    def cache_limit(self) -> int:
        """Entries the cache keeps: `cache_size`, fewer when `cache_memory` holds fewer vectors of this width."""
        if self.cache_memory is None or not self.cache_size:
            return self.cache_size
        return min(self.cache_size, max(1, int(self.cache_memory) // (self.dim * 4)))

    def transform(self, texts: list[str]) -> np.ndarray:
        """(N, dim) float32, rows L2-normalized."""
        return self.transform_unique(texts).dense()

    def fit_transform(self, texts: list[str]) -> np.ndarray:
        return self.fit(texts).transform(texts)

    _derived: tuple[str, ...] = ()  # attributes rebuilt by _build() after fit or load, never saved

    def _build(self) -> None:
        """Rebuild derived state (fitted transformers, caches) from the fitted attributes."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_cache", *self._derived):  # derivable, and may be large
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if getattr(self, "fitted_", False):
            self._build()

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path: str | Path) -> "BaseVectorizer":
        with open(path, "rb") as f:
            obj = pickle.load(f)
        if not isinstance(obj, BaseVectorizer):
            raise TypeError(f"{path} does not hold a logvec vectorizer")
        return obj
