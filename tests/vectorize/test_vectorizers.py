import numpy as np
import pytest

from logvec.config import parse_pipeline
from logvec.masking import Masker
from logvec.vectorize import VECTORIZERS, BaseVectorizer, Vectors, make_vectorizer

SPARSE = ["bow", "onehot", "tfidf"]  # word2vec and sentence: tests/test_semantic.py


@pytest.fixture(scope="module")
def masked(shared_data):
    lines = (shared_data / "loghub_2k" / "OpenSSH" / "OpenSSH_2k.log").read_text().splitlines()
    return Masker().mask(lines)


@pytest.mark.parametrize("kind", SPARSE)
def test_rows_float32_unit_length(kind, masked):
    v = VECTORIZERS[kind]().fit(masked)
    X = v.transform(masked)
    assert X.dtype == np.float32 and X.shape == (len(masked), v.dim)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", SPARSE)
def test_each_distinct_line_vectorized_once(kind, masked, monkeypatch):
    v = VECTORIZERS[kind]().fit(masked)
    seen: list[str] = []
    inner = type(v)._transform_texts
    monkeypatch.setattr(type(v), "_transform_texts", lambda self, texts: (seen.extend(texts), inner(self, texts))[1])
    half = len(masked) // 2
    v.transform_unique(masked[:half])
    v.transform_unique(masked[half:])
    assert len(seen) == len(set(seen)) == len(set(masked))  # once per distinct line, across batches too


@pytest.mark.parametrize("kind", SPARSE)
def test_cached_equals_uncached(kind, masked):
    cached = VECTORIZERS[kind]().fit(masked)
    uncached = VECTORIZERS[kind](cache_size=0).fit(masked)
    cached.transform(masked)  # warm the cache
    np.testing.assert_array_equal(cached.transform(masked), uncached.transform(masked))


@pytest.mark.parametrize("kind", SPARSE)
def test_save_load_round_trip(kind, masked, tmp_path):
    v = VECTORIZERS[kind](max_features=50).fit(masked)
    v.save(tmp_path / "v.pkl")
    w = BaseVectorizer.load(tmp_path / "v.pkl")
    assert w.dim == v.dim == 50 + 256
    np.testing.assert_array_equal(w.transform(masked + ["novel words never seen"]),
                                  v.transform(masked + ["novel words never seen"]))


def test_unseen_tokens_still_give_a_searchable_vector(masked):
    v = VECTORIZERS["tfidf"]().fit(masked)
    a, b, c = v.transform(["kernel panic disk quota", "kernel panic disk quota again", "Accepted password"])
    assert np.linalg.norm(a) == pytest.approx(1.0)
    assert a @ b > 0.8 and a @ c < 0.1


def test_tfidf_weights_rare_tokens_above_common_ones(masked):
    v = VECTORIZERS["tfidf"]().fit(masked)
    idf = dict(zip(v.vocabulary_, v.idf_))
    assert idf["break"] > idf["for"]  # "POSSIBLE BREAK-IN ATTEMPT" is rarer than "for"


def test_bow_counts_onehot_presence():
    texts = ["error error error disk", "disk"]
    bow = VECTORIZERS["bow"](oov_buckets=0).fit(texts)
    one = VECTORIZERS["onehot"](oov_buckets=0).fit(texts)
    e, d = bow.vocabulary_["error"], bow.vocabulary_["disk"]
    x = bow.transform(texts[:1])[0]
    assert x[e] == pytest.approx(3 * x[d])
    y = one.transform(texts[:1])[0]
    assert y[one.vocabulary_["error"]] == pytest.approx(y[one.vocabulary_["disk"]])


def test_max_features_keeps_most_frequent_terms():
    texts = ["alpha beta"] * 5 + ["gamma"] * 3 + ["delta"]
    v = VECTORIZERS["bow"](max_features=2, oov_buckets=0).fit(texts)
    assert set(v.vocabulary_) == {"alpha", "beta"}


def test_transform_before_fit_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not fitted"):
        VECTORIZERS["tfidf"]().transform(["x"])


def test_empty_baseline_still_fits():
    v = VECTORIZERS["tfidf"]().fit(["<NUM> <NUM>", "..."])
    assert v.transform(["<NUM>"]).shape == (1, v.dim)


def test_make_vectorizer_passes_yaml_params():
    config = parse_pipeline({"vectorizer": {"type": "onehot", "max_features": 7, "oov_buckets": 3}})
    v = make_vectorizer(config.vectorizer)
    assert (v.kind, v.max_features, v.oov_buckets) == ("onehot", 7, 3)


def test_vectors_dense_and_from_dense():
    rows = np.eye(3, dtype=np.float32)
    v = Vectors(rows, np.array([2, 0, 2]))
    np.testing.assert_array_equal(v.dense(), rows[[2, 0, 2]])
    w = Vectors.from_dense(v.dense())
    np.testing.assert_array_equal(w.dense(), v.dense())
    assert len(w.rows) == 2


@pytest.mark.parametrize("kind", ["tfidf", "word2vec"])
def test_the_cache_is_bounded_in_memory_as_well_as_in_entries(kind):
    """A stream of ever new lines fills the cache to `cache_memory`, not to `cache_size` entries (the bound the
    deployment's memory budget rests on)."""
    from logvec.config import parse_pipeline
    from logvec.vectorize import make_vectorizer

    config = parse_pipeline({"vectorizer": {"type": kind, "cache_size": 100_000, "cache_memory": "1MiB"}})
    v = make_vectorizer(config.vectorizer).fit([f"user {w} logged in from host {w}" for w in "abcdefghij"] * 5)
    limit = (1 << 20) // (v.dim * 4)
    assert v.cache_limit() == limit < 100_000
    for start in range(0, 3 * limit, 500):
        v.transform_unique([f"request {i} took {i % 7} ms" for i in range(start, start + 500)])
    assert len(v._cache) == limit
