"""Vectorizers: masked log lines in, float32 L2-normalized rows out. One module per family."""

from __future__ import annotations

from logvec.config import VectorizerConfig
from logvec.vectorize.base import BaseVectorizer, Vectors, l2_normalize, unique_inverse
from logvec.vectorize.sentence import SentenceVectorizer
from logvec.vectorize.sparse import BowTextVectorizer, OnehotTextVectorizer, TfidfTextVectorizer
from logvec.vectorize.word2vec import Word2VecVectorizer

VECTORIZERS: dict[str, type[BaseVectorizer]] = {
    "bow": BowTextVectorizer,
    "tfidf": TfidfTextVectorizer,
    "onehot": OnehotTextVectorizer,
    "word2vec": Word2VecVectorizer,
    "sentence": SentenceVectorizer,
}

__all__ = ["BaseVectorizer", "Vectors", "VECTORIZERS", "make_vectorizer", "l2_normalize", "unique_inverse"]


def make_vectorizer(config: VectorizerConfig) -> BaseVectorizer:
    """The vectorizer a `vectorizer:` section describes, unfitted."""
    params = config.model_dump(exclude={"type"})
    return VECTORIZERS[config.type](**params)
