"""word2vec and sentence-embedding vectorizers: offline loading, caching, persistence, semantics, devices."""

import os
import pickle
import socket

import numpy as np
import pytest

from logvec.masking import Masker
from logvec.vectorize import VECTORIZERS
from logvec.vectorize.sentence import ModelNotFoundError, SentenceVectorizer, resolve_model, select_device
from logvec.vectorize.word2vec import Word2VecVectorizer


@pytest.fixture(scope="module")
def sentence():
    return SentenceVectorizer(batch_size=32).fit()


@pytest.fixture(scope="module")
def ssh_masked(shared_data):
    return Masker().mask((shared_data / "loghub_2k" / "OpenSSH" / "OpenSSH_2k.log").read_text().splitlines())


# ---------------------------------------------------------------- sentence
def test_model_loads_with_the_network_cut_off(monkeypatch):
    def refuse(*a, **k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    v = SentenceVectorizer().fit()
    assert v.dim == 384 and v.transform(["disk full"]).shape == (1, 384)


def test_unknown_model_fails_at_once_with_the_fix():
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_model("sentence-transformers/all-mpnet-base-v2")
    with pytest.raises(ModelNotFoundError):
        SentenceVectorizer(model="no-such-model").fit()


def test_semantic_neighbours(sentence):
    a, b, c = sentence.transform(["no space left on device", "disk quota exceeded", "user logged in"])
    assert a @ b > a @ c + 0.2


def test_cached_rows_are_the_models_own_embeddings_and_new_shapes_mid_stream(sentence):
    """Rows served from the cache and rows of a shape first met mid-stream both equal what
    sentence-transformers itself gives for the text with its placeholders spelled as words."""
    from sentence_transformers import SentenceTransformer

    first = ["session <UUID> opened for user <ID>", "disk <PATH> is full"] * 3
    later = ["disk <PATH> is full", "connection reset by peer <IP>"]  # one cached, one new shape
    sentence.transform(first)
    hits = sentence.cache_hits
    got = sentence.transform(later)
    assert sentence.cache_hits == hits + 1
    model = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2")), device="cpu", local_files_only=True)
    want = model.encode(["disk path is full", "connection reset by peer ip"], normalize_embeddings=True)
    cosines = np.sum(got * want, axis=1)
    assert cosines.min() > 0.999, cosines  # bf16 on CPUs that have it: not bit-equal, the same direction


def test_each_distinct_line_embedded_once(sentence, monkeypatch):
    seen = []
    inner = SentenceVectorizer.encode_raw
    monkeypatch.setattr(SentenceVectorizer, "encode_raw",
                        lambda self, texts: (seen.extend(texts), inner(self, texts))[1])
    v = SentenceVectorizer().fit()
    v.transform(["a <NUM>", "b", "a <NUM>"] * 50)
    v.transform(["b", "c"])
    assert sorted(seen) == ["a num", "b", "c"]


def test_save_load_round_trip(sentence, tmp_path):
    texts = ["kernel panic on <HOST>", "job <ID> finished"]
    before = sentence.transform(texts)
    blob = pickle.dumps(sentence)
    assert len(blob) < 100_000  # the weights stay in their package
    restored = pickle.loads(blob)
    np.testing.assert_allclose(restored.transform(texts), before, atol=1e-5)


def test_device_selection(monkeypatch):
    import torch

    assert select_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        select_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == "cuda"


def test_precision_choice():
    from logvec.vectorize.sentence import choose_precision, cpu_supports_bf16

    assert choose_precision("auto", "cuda") == "fp16"
    assert choose_precision("auto", "cpu") == ("bf16" if cpu_supports_bf16() else "fp32")
    assert choose_precision("fp32", "cuda") == "fp32"


# ---------------------------------------------------------------- word2vec
def test_word2vec_rows_and_round_trip(ssh_masked, tmp_path):
    v = Word2VecVectorizer(vector_size=32, workers=1).fit(ssh_masked)
    X = v.transform(ssh_masked)
    assert X.shape == (len(ssh_masked), 32) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    v.save(tmp_path / "w.pkl")
    w = Word2VecVectorizer.load(tmp_path / "w.pkl")
    np.testing.assert_array_equal(w.transform(ssh_masked[:50]), X[:50])


def test_word2vec_trains_the_same_vectors_in_every_run(hdfs_log, tmp_path):
    """Two processes (string hashing differing too) fit the default word2vec on the same 8,000 HDFS lines: the
    same vectors, to the bit (with two training threads, as the default was, they differed from run to run)."""
    import subprocess
    import sys

    lines = hdfs_log.read_text().splitlines()[:8000]
    (tmp_path / "lines.txt").write_text("\n".join(lines))
    script = ("import hashlib, sys; from logvec.vectorize.word2vec import Word2VecVectorizer; "
              "lines = open(sys.argv[1]).read().split('\\n'); "
              "v = Word2VecVectorizer(vector_size=32, epochs=2).fit(lines); "
              "print(hashlib.sha256(v.transform(lines).tobytes()).hexdigest())")

    digests = {subprocess.run([sys.executable, "-c", script, str(tmp_path / "lines.txt")], check=True, text=True,
                              capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
               for seed in ("1", "2")}
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_word2vec_lines_of_one_event_are_close(ssh_masked):
    v = Word2VecVectorizer(vector_size=32, workers=1).fit(ssh_masked)
    a, b, c = v.transform(["Failed password for root from <IP> port <NUM> ssh2",
                           "Failed password for invalid user <ID> from <IP> port <NUM> ssh2",
                           "Received disconnect from <IP>: <NUM>: Bye Bye [preauth]"])
    assert a @ b > a @ c


def test_word2vec_unknown_words_are_not_lost(ssh_masked):
    v = Word2VecVectorizer(vector_size=32, workers=1).fit(ssh_masked)
    a, b, c = v.transform(["zqxwv kernel oops", "zqxwv kernel oops again", "Accepted password"])
    assert np.linalg.norm(a) == pytest.approx(1.0) and a @ b > a @ c


def test_word2vec_pretrained_file(tmp_path):
    path = tmp_path / "vecs.txt"
    path.write_text("3 4\ndisk 1 0 0 0\nfull 0.9 0.1 0 0\nlogin 0 0 1 0\n")
    v = Word2VecVectorizer(pretrained=str(path)).fit(["disk full", "login"])
    assert v.dim == 4
    a, b = v.transform(["disk", "full"])
    assert a @ b > 0.9


def test_word2vec_missing_pretrained_file():
    with pytest.raises(FileNotFoundError, match="pretrained vectors not found"):
        Word2VecVectorizer(pretrained="/nope/vecs.bin").fit(["x"])


def test_registry_has_all_five():
    assert set(VECTORIZERS) == {"bow", "tfidf", "onehot", "word2vec", "sentence"}


# Shapes an SRE's log holds: the one the query means shares no word with it; the others share its words. (Another
# resource being full is left out: all-MiniLM-L6-v2 puts "the request queue is full" a hair above the disk.)
MEANING = "write to /srv/data/9 failed: No space left on device"
DECOYS = [
    "the disk scheduler is cfq", "disk /dev/sdb is healthy (smart status passed)",
    "disk usage report: 41% of /srv used", "user u7 logged in",
    "the cache is warm", "is the replica in sync? yes", "mounted disk /dev/sdc on /mnt/backup",
    "heap is full: running a full garbage collection", "query on orders took 12ms", "the job is done",
    "disk read latency 3ms", "certificate for api.example.com expires in 30 days", "the inbox is full of mail",
]


@pytest.mark.parametrize("pipeline,found", [("sentence.yaml", True), ("tfidf.yaml", False)])
def test_search_finds_meaning_not_words(tmp_path, pipeline, found):
    """`the disk is full` shares no word with `No space left on device` and some with every decoy: the
    sentence pipeline ranks the meaning first among 14 shapes; tf-idf, which matches words, does not."""
    import json

    from tests.support import PIPELINES, logvec_cli

    shapes = [MEANING, *DECOYS]
    lines = [f"2026-11-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z INFO host: {shapes[i % len(shapes)]}"
             for i in range(1600)]
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    pipe = PIPELINES / pipeline
    logvec_cli("run", "-p", pipe, "-i", log, "-d", tmp_path / "d")
    hits = json.loads(logvec_cli("search", "the disk is full", "-p", pipe, "-d", tmp_path / "d", "-k", "1",
                                 "--format", "json").stdout)
    assert ("No space left on device" in hits[0]["message"]) == found, hits[0]["message"]
