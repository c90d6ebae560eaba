"""`word2vec`: gensim Word2Vec trained on the baseline's masked tokens; a line is the SIF- (or idf-)
weighted mean of its token vectors.

Training sees each distinct masked line at most `max_repeats` times: a million lines of a few thousand
shapes train in seconds, and the chattiest shapes do not drown the rare ones. Tokens the model does not
know are hashed to one of `oov_buckets` fixed random vectors, so two lines that share a new word still
land near each other. Pretrained vectors (word2vec text/binary or gensim KeyedVectors) can replace training.

Training is reproducible with one worker thread (the default): with more, gensim's threads take the jobs of
an epoch in whatever order they are scheduled, and no two runs are alike (an analyst comparing F1 across
runs would be comparing noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

from logvec.vectorize.base import BaseVectorizer, l2_normalize, unique_inverse
from logvec.vectorize.sparse import TOKEN_PATTERN


def load_pretrained(path: str):
    """gensim KeyedVectors from a .kv/.model file, or word2vec text/binary format (.bin = binary)."""
    from gensim.models import KeyedVectors

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"pretrained vectors not found: {path}")
    if p.suffix in (".kv", ".model", ".wv"):
        return KeyedVectors.load(str(p))
    return KeyedVectors.load_word2vec_format(str(p), binary=p.suffix == ".bin")


class Word2VecVectorizer(BaseVectorizer):
    kind = "word2vec"
    _derived = ("_counter", "_oov", "_weighted")

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 1,
        epochs: int = 10,
        sg: int = 1,
        weighting: str = "sif",
        sif_a: float = 1e-3,
        pretrained: str | None = None,
        max_repeats: int = 20,
        oov_buckets: int = 64,
        workers: int = 1,
        seed: int = 0,
        cache_size: int = 100_000,
        cache_memory: int = 256 << 20,
    ) -> None:
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.sg = sg
        self.weighting = weighting
        self.sif_a = sif_a
        self.pretrained = pretrained
        self.max_repeats = max_repeats
        self.oov_buckets = oov_buckets
        self.workers = workers
        self.seed = seed
        self.cache_size = cache_size
        self.cache_memory = cache_memory

    def fit(self, texts: list[str]) -> "Word2VecVectorizer":
        uniq, inverse = unique_inverse(list(texts))
        line_counts = np.bincount(inverse, minlength=len(uniq))
        analyze = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True).build_analyzer()
        tokens = [analyze(t) for t in uniq]
        if self.pretrained:
            self.wv_ = load_pretrained(self.pretrained)
        else:
            from gensim.models import Word2Vec

            corpus = [toks for toks, c in zip(tokens, line_counts.tolist()) if toks
                      for _ in range(min(c, self.max_repeats))]
            model = Word2Vec(vector_size=self.vector_size, window=self.window, min_count=self.min_count,
                             sg=self.sg, workers=self.workers, seed=self.seed)
            if corpus:
                model.build_vocab(corpus)
                model.train(corpus, total_examples=len(corpus), epochs=self.epochs)
            self.wv_ = model.wv
        # token weights from the baseline's true frequencies (repeats counted)
        freq: dict[str, float] = {}
        for toks, c in zip(tokens, line_counts.tolist()):
            for tok in toks:
                freq[tok] = freq.get(tok, 0.0) + c
        total = max(sum(freq.values()), 1.0)
        n_lines = max(int(line_counts.sum()), 1)
        df: dict[str, float] = {}
        for toks, c in zip(tokens, line_counts.tolist()):
            for tok in set(toks):
                df[tok] = df.get(tok, 0.0) + c
        keys = self.wv_.index_to_key
        if self.weighting == "sif":
            w = np.array([self.sif_a / (self.sif_a + freq.get(k, 0.0) / total) for k in keys], dtype=np.float32)
        elif self.weighting == "idf":
            w = np.array([np.log((1 + n_lines) / (1 + df.get(k, 0.0))) + 1 for k in keys], dtype=np.float32)
        else:
            w = np.ones(len(keys), dtype=np.float32)
        self.token_weights_ = w
        self.oov_weight_ = float(w.max()) if len(w) else 1.0  # unseen: as rare as the rarest known
        rng = np.random.default_rng(self.seed)
        d = int(self.wv_.vector_size)
        self.oov_vectors_ = rng.normal(size=(self.oov_buckets, d)).astype(np.float32) / np.sqrt(d)
        self.fitted_ = True
        self._build()
        return self

    def _build(self) -> None:
        vocab = self.wv_.key_to_index
        self._counter = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, vocabulary=vocab,
                                        dtype=np.float32) if vocab else None
        analyze = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True).build_analyzer()
        self._oov = HashingVectorizer(
            n_features=self.oov_buckets, analyzer=lambda doc: [t for t in analyze(doc) if t not in vocab],
            alternate_sign=False, norm=None, dtype=np.float32) if self.oov_buckets else None
        # token vectors pre-scaled by their weights: a line is one sparse-dense product
        self._weighted = self.wv_.vectors.astype(np.float32) * self.token_weights_[:, None]

    @property
    def dim(self) -> int:
        self._check_fitted()
        return int(self.wv_.vector_size)

    def _transform_texts(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if self._counter is not None:
            out += sp.csr_matrix(self._counter.transform(texts)) @ self._weighted
        if self._oov is not None:
            out += (self._oov.transform(texts) @ self.oov_vectors_) * self.oov_weight_
        return l2_normalize(out)
