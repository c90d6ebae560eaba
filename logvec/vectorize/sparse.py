"""Token-count vectorizers over masked lines: `bow` (counts), `tfidf` (idf-weighted), `onehot` (presence).

The vocabulary is fitted with scikit-learn's CountVectorizer; tokens met only later are not lost: they are
hashed into `oov_buckets` extra dimensions, so a brand-new error message is still searchable by its words.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

from logvec.vectorize.base import BaseVectorizer, l2_normalize, unique_inverse

# placeholders such as <NUM> stay one token; words keep underscores and inner digits
TOKEN_PATTERN = r"<[A-Za-z_]+>|[A-Za-z_][A-Za-z0-9_]*"


class SparseTextVectorizer(BaseVectorizer):
    weighting = "count"  # "count" | "tfidf" | "binary"
    _derived = ("_vocab_counter", "_oov")

    def __init__(
        self,
        max_features: int = 4096,
        ngram_max: int = 1,
        min_df: int = 1,
        oov_buckets: int = 256,
        cache_size: int = 100_000,
        sublinear_tf: bool = True,
        cache_memory: int = 256 << 20,
    ) -> None:
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.oov_buckets = oov_buckets
        self.cache_size = cache_size
        self.sublinear_tf = sublinear_tf
        self.cache_memory = cache_memory

    def _counter(self, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
        return CountVectorizer(
            token_pattern=TOKEN_PATTERN,
            lowercase=True,
            ngram_range=(1, self.ngram_max),
            vocabulary=vocabulary,
            binary=self.weighting == "binary",
            dtype=np.float32,
        )

    def fit(self, texts: list[str]) -> "SparseTextVectorizer":
        """Vocabulary: the `max_features` terms most frequent over the lines (repeats weighted, not re-counted)."""
        uniq, inverse = unique_inverse(list(texts))
        line_counts = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
        counter = self._counter()
        try:
            X = counter.fit_transform(uniq)
        except ValueError:  # no tokens at all (empty or symbol-only input)
            X, counter.vocabulary_ = sp.csr_matrix((len(uniq), 0), dtype=np.float32), {}
        present = (X > 0).astype(np.float64)
        df = np.asarray(present.T @ line_counts).ravel()
        tf = np.asarray(X.T @ line_counts).ravel()
        terms = np.array(sorted(counter.vocabulary_, key=counter.vocabulary_.get), dtype=object)
        keep = np.flatnonzero(df >= self.min_df)
        keep = keep[np.argsort(-tf[keep], kind="stable")[: self.max_features]]
        keep.sort()
        self.vocabulary_ = {str(t): i for i, t in enumerate(terms[keep])}
        n = float(line_counts.sum())
        self.idf_ = (np.log((1.0 + n) / (1.0 + df[keep])) + 1.0).astype(np.float32)
        self.oov_idf_ = float(np.log(1.0 + n) + 1.0)
        self.n_fit_lines_ = int(n)
        self.fitted_ = True
        self._build()
        return self

    def _build(self) -> None:
        """The fitted transformers (rebuilt after load; they are derived from `vocabulary_`)."""
        self._vocab_counter = self._counter(self.vocabulary_) if self.vocabulary_ else None
        analyze = self._counter().build_analyzer()
        vocab = self.vocabulary_
        self._oov = (
            HashingVectorizer(
                n_features=self.oov_buckets,
                analyzer=lambda doc: [t for t in analyze(doc) if t not in vocab],
                alternate_sign=False,
                norm=None,
                binary=self.weighting == "binary",
                dtype=np.float32,
            )
            if self.oov_buckets
            else None
        )

    @property
    def dim(self) -> int:
        self._check_fitted()
        return len(self.vocabulary_) + self.oov_buckets

    def feature_names(self) -> list[str]:
        unseen = [f"unseen-word#{i}" for i in range(self.oov_buckets)]
        return sorted(self.vocabulary_, key=self.vocabulary_.__getitem__) + unseen

    def _transform_texts(self, texts: list[str]) -> np.ndarray:
        parts = []
        if self._vocab_counter is not None:
            known = self._vocab_counter.transform(texts)
            if self.weighting == "tfidf":
                if self.sublinear_tf:
                    known.data = 1.0 + np.log(known.data)
                known = known @ sp.diags(self.idf_)
            parts.append(known)
        if self._oov is not None:
            oov = self._oov.transform(texts)
            if self.weighting == "tfidf":
                if self.sublinear_tf:
                    oov.data = 1.0 + np.log(oov.data)
                oov = oov * self.oov_idf_
            parts.append(oov)
        X = sp.hstack(parts, format="csr") if len(parts) > 1 else parts[0].tocsr()
        return l2_normalize(X.toarray().astype(np.float32, copy=False))


class BowTextVectorizer(SparseTextVectorizer):
    """Bag of words: token counts."""

    kind = "bow"
    weighting = "count"


class TfidfTextVectorizer(SparseTextVectorizer):
    """Token counts weighted by inverse document frequency over the fitted lines (sublinear tf by default)."""

    kind = "tfidf"
    weighting = "tfidf"


class OnehotTextVectorizer(SparseTextVectorizer):
    """Multi-hot: which tokens are present, not how often."""

    kind = "onehot"
    weighting = "binary"

