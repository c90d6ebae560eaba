"""One contract for every store: the same tests against the embedded store and, when OPENSEARCH_URL points
at a real OpenSearch with the k-NN plugin, against OpenSearch (skipped otherwise, and said so)."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest

from logvec.config import OpenSearchStoreConfig
from logvec.records import RecordBatch
from logvec.store import LocalStore, SearchFilters, StoreDimensionError
from logvec.vectorize import Vectors

DAY = 86400.0


@pytest.fixture(params=["local", "opensearch"])
def store(request, tmp_path):
    if request.param == "local":
        s = LocalStore(tmp_path / "store")
        yield s
        s.close()
        return
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        pytest.skip("set OPENSEARCH_URL to run the store contract against a real OpenSearch (k-NN plugin)")
    from logvec.store.opensearch import OpenSearchStore

    s = OpenSearchStore(OpenSearchStoreConfig(type="opensearch", hosts=[url], index=f"contract-{uuid.uuid4().hex[:8]}",
                                              replicas=0, refresh_interval="1s"))
    yield s
    s.delete()


def records(n: int, start: int = 0) -> RecordBatch:
    rb = RecordBatch(ids=[f"c:{i}" for i in range(start, start + n)],
                     messages=[f"message {i}" for i in range(start, start + n)],
                     timestamps=np.array([1.7e9 + i * DAY for i in range(start, start + n)]),
                     services=["api" if i % 2 else "db" for i in range(start, start + n)],
                     levels=["ERROR" if i % 5 == 0 else "INFO" for i in range(start, start + n)], flags=[""] * n)
    rb.template_ids = np.arange(start, start + n) % 4
    rb.templates = [f"template {t}" for t in rb.template_ids]
    rb.is_anomaly = np.arange(start, start + n) % 10 == 0
    rb.scores = rb.is_anomaly.astype(np.float32)
    rb.reasons = ["new template" if a else "" for a in rb.is_anomaly]
    rb.kinds = ["new_template" if a else "" for a in rb.is_anomaly]
    return rb


def vectors(n: int, seed: int = 0) -> Vectors:
    x = np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)
    return Vectors.from_dense(x / np.linalg.norm(x, axis=1, keepdims=True))


def refresh(store) -> None:
    if hasattr(store, "client"):
        store.client.indices.refresh(index=store.config.index)


def test_upsert_is_idempotent(store):
    v = vectors(30)
    assert store.upsert(records(30), v) == []
    assert store.upsert(records(30), v) == []
    assert store.count() == 30


def test_knn_finds_the_record_itself_first(store):
    v = vectors(30)
    store.upsert(records(30), v)
    refresh(store)
    hits = store.knn(v.dense()[7], k=3, message="message 7")
    assert hits[0].id == "c:7" and hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    h = hits[0]
    assert (h.message, h.service, h.template, h.timestamp[:4]) == ("message 7", "api", "template 3", "2023")


def test_knn_filters(store):
    v = vectors(40)
    store.upsert(records(40), v)
    refresh(store)
    q = v.dense()[0]
    assert {h.service for h in store.knn(q, k=40, filters=SearchFilters(service="db"))} == {"db"}
    assert {h.level for h in store.knn(q, k=40, filters=SearchFilters(level="error"))} == {"ERROR"}
    got = store.knn(q, k=40, filters=SearchFilters(since=1.7e9 + 10 * DAY, until=1.7e9 + 19 * DAY))
    assert sorted(int(h.id[2:]) for h in got) == list(range(10, 20))
    anomalies = store.knn(q, k=40, filters=SearchFilters(anomalies_only=True))
    assert sorted(h.id for h in anomalies) == ["c:0", "c:10", "c:20", "c:30"]
    assert all(h.is_anomaly and "new template" in h.reason and h.anomaly_kinds == ["new_template"]
               for h in anomalies)
    assert all(h.anomaly_kinds == [] for h in store.knn(q, k=40) if not h.is_anomaly)


def test_records_flagged_after_the_fact_keep_their_own_reason(store):
    v = vectors(12)
    store.upsert(records(12), v)
    store.flag_records([("c:10", "rate storm: 80 lines"), ("c:3", "rate storm: 80 lines")], "rate")
    refresh(store)
    by_id = {h.id: h for h in store.knn(v.dense()[3], k=12)}
    assert by_id["c:3"].is_anomaly and by_id["c:3"].anomaly_kinds == ["rate"] and "rate storm" in by_id["c:3"].reason
    assert by_id["c:10"].anomaly_kinds == ["new_template", "rate"] and by_id["c:10"].reason.startswith("new template")
    assert not by_id["c:4"].is_anomaly


def test_another_dimension_is_refused_or_isolated(store):
    store.upsert(records(3), vectors(3))
    other = Vectors.from_dense(np.eye(3, 5, dtype=np.float32))
    if isinstance(store, LocalStore):
        with pytest.raises(StoreDimensionError):
            store.upsert(records(3, start=3), other)
    else:  # OpenSearch: a model of another dimension (a new process) gets a new index behind the alias
        from logvec.store.opensearch import OpenSearchStore

        OpenSearchStore(store.config).upsert(records(3, start=3), other)
        assert store.alias_target().endswith("-d5")
