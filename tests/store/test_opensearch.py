"""The OpenSearch store: exact request bodies (a recording transport), the write path against osmem-server
(an OpenSearch emulator started here; it serves no k-NN queries), and the CLI's index commands.
k-NN search against a real server: tests/test_store_contract.py, when OPENSEARCH_URL is set."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from opensearchpy import OpenSearch, Transport
from opensearchpy.exceptions import NotFoundError

from logvec.config import OpenSearchStoreConfig
from logvec.records import RecordBatch
from logvec.store import SearchFilters
from logvec.store.opensearch import OpenSearchStore, StoreUnavailableError, score_to_cosine
from logvec.vectorize import Vectors

from tests.secret_corpus import leaked, secrets
from tests.support import OPEN_ACCESS, PIPELINES, logvec_cli
from logvec.testing.servers import start_osmem


def batch(n: int, start: int = 0, service: str = "api") -> tuple[RecordBatch, Vectors]:
    rb = RecordBatch(ids=[f"f:{i}" for i in range(start, start + n)],
                     messages=[f"msg {i}" for i in range(start, start + n)],
                     timestamps=np.array([1.7e9 + i for i in range(start, start + n)]), services=[service] * n,
                     levels=["INFO"] * n, flags=[""] * n)
    rb.template_ids = np.arange(n) % 3
    rb.templates = [f"tpl {t}" for t in rb.template_ids]
    rb.is_anomaly = np.zeros(n, bool)
    rb.scores = np.zeros(n, np.float32)
    rb.reasons = [""] * n
    rows = np.eye(8, dtype=np.float32)[:3]
    return rb, Vectors(rows, np.arange(n) % 3)


# ---------------------------------------------------------------- exact request bodies
class RecordingTransport(Transport):
    """Records every request and answers like a fresh cluster."""

    calls: list = []

    def perform_request(self, method, url, params=None, body=None, timeout=None, ignore=(), headers=None):
        if isinstance(body, (bytes, str)):
            text = body.decode() if isinstance(body, bytes) else body
            bulk = url.endswith("_bulk")
            body = [json.loads(x) for x in text.splitlines() if x.strip()] if bulk else json.loads(text)
        RecordingTransport.calls.append((method, url, body))
        if method == "HEAD":
            return False
        if url.startswith("/_alias/"):
            raise NotFoundError(404, "alias missing", {})
        if url.endswith("/_bulk") or url == "/_bulk":
            return {"errors": False, "items": [{"index": {"_id": a["index"]["_id"], "status": 201}}
                                               for a in body if "index" in a]}
        if url.endswith("/_search"):
            return {"hits": {"hits": [{"_id": "f:1", "_score": 0.9, "_source": {
                "timestamp": 1_700_000_001_000, "service": "api", "level": "INFO", "message": "msg 1",
                "template": "tpl 1", "template_id": 1, "is_anomaly": False, "anomaly_score": 0.0, "reason": "",
                "flags": ""}}]}}
        return {"acknowledged": True}


@pytest.fixture
def recorded():
    RecordingTransport.calls = []
    cfg = OpenSearchStoreConfig(type="opensearch", index="logvec", replicas=0)
    store = OpenSearchStore(cfg, client=OpenSearch(hosts=["http://recorded:9200"], transport_class=RecordingTransport))
    return store, RecordingTransport.calls


def test_index_mapping_body(recorded):
    store, calls = recorded
    store.ensure_index(8)
    put = next(c for c in calls if c[0] == "PUT")
    assert put[1] == "/logvec-d8"
    assert put[2]["settings"]["index"] == {"knn": True, "number_of_shards": 1, "number_of_replicas": 0,
                                           "refresh_interval": "1s"}
    props = put[2]["mappings"]["properties"]
    assert props["vector"] == {"type": "knn_vector", "dimension": 8, "method": {
        "name": "hnsw", "engine": "lucene", "space_type": "cosinesimil",
        "parameters": {"m": 16, "ef_construction": 128}}}
    assert props["timestamp"] == {"type": "date", "format": "epoch_millis"}
    assert props["service"]["type"] == props["level"]["type"] == props["template"]["type"] == "keyword"
    assert props["message"]["type"] == "text" and props["is_anomaly"]["type"] == "boolean"
    alias = next(c for c in calls if c[1] == "/_aliases")
    assert alias[2] == {"actions": [{"add": {"index": "logvec-d8", "alias": "logvec", "is_write_index": True}}]}


def test_bulk_body(recorded):
    store, calls = recorded
    store.use_model("3f2a")
    rb, vecs = batch(4)
    assert store.upsert(rb, vecs) == []
    assert ("PUT", "/logvec-3f2a", None) in [c[:2] + (None,) for c in calls]  # the model's own index
    bulk = next(c for c in calls if c[1].endswith("_bulk"))
    actions, docs = bulk[2][0::2], bulk[2][1::2]
    assert actions[0] == {"index": {"_index": "logvec-3f2a", "_id": "f:0"}}
    assert {d["model_id"] for d in docs} == {"3f2a"}
    assert [a["index"]["_id"] for a in actions] == ["f:0", "f:1", "f:2", "f:3"]
    assert docs[1]["vector"] == [0.0, 1.0, 0, 0, 0, 0, 0, 0] and docs[3]["vector"] == docs[0]["vector"]
    assert docs[1]["timestamp"] == 1_700_000_001_000 and docs[1]["service"] == "api"
    assert set(docs[0]) == {"vector", "timestamp", "service", "level", "message", "template", "template_id",
                            "is_anomaly", "anomaly_score", "reason", "flags", "anomaly_kinds", "model_id"}


def test_knn_query_bodies(recorded):
    store, calls = recorded
    q = np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    f = SearchFilters(service="api", level="error", since=1.7e9, until=1.8e9, anomalies_only=True)
    body = store.knn_query(q, 5, f)
    assert body == {"size": 5, "_source": {"excludes": ["vector"]}, "query": {"knn": {"vector": {
        "vector": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "k": 5,
        "filter": {"bool": {"filter": [
            {"term": {"service": "api"}}, {"term": {"level": "ERROR"}},
            {"range": {"timestamp": {"gte": 1_700_000_000_000, "lte": 1_800_000_000_000}}},
            {"term": {"is_anomaly": True}}]}}}}}}
    store.config.knn.engine = "nmslib"
    body = store.knn_query(q, 5, SearchFilters(service="api"))
    assert body["query"]["bool"]["must"][0]["knn"]["vector"]["k"] == 50
    assert body["query"]["bool"]["filter"] == [{"term": {"service": "api"}}]
    store.config.knn.engine = "lucene"
    hits = store.knn(q, k=1)
    search = next(c for c in calls if c[1].endswith("_search"))
    assert search[1] == "/logvec/_search" and search[2] == {"size": 1, "_source": {"excludes": ["vector"]},
                                                             "query": {"knn": {"vector": {"vector": q.tolist(),
                                                                                          "k": 1}}}}
    assert hits[0].id == "f:1" and hits[0].score == pytest.approx(0.8) and hits[0].timestamp.startswith("2023-11-14")


@pytest.mark.parametrize("space", ["cosinesimil", "innerproduct", "l2"])
def test_scores_convert_back_to_cosine(space):
    cos = 0.6
    score = {"cosinesimil": (1 + cos) / 2, "innerproduct": 1 + cos, "l2": 1 / (1 + (2 - 2 * cos))}[space]
    assert score_to_cosine(score, space) == pytest.approx(cos)


# ---------------------------------------------------------------- against osmem-server
@pytest.fixture(scope="module")
def osmem(tmp_path_factory):
    server = start_osmem(str(tmp_path_factory.mktemp("osmem")))
    yield server
    server.stop()


def osmem_store(server, index: str, **bulk) -> OpenSearchStore:
    cfg = OpenSearchStoreConfig(type="opensearch", hosts=[f"http://{server.address}"], index=index, replicas=0,
                                bulk={"backoff": 0.2, "max_backoff": 1.0, **bulk})
    return OpenSearchStore(cfg)


def test_write_path_mapping_accepted_and_idempotent(osmem):
    store = osmem_store(osmem, "wp")
    rb, vecs = batch(50)
    assert store.upsert(rb, vecs) == []
    assert store.upsert(rb, vecs) == []  # the same records again overwrite
    assert store.count() == 50
    info = store.info()
    assert info["index"] == "wp-d8" and info["dimension"] == 8 and info["count"] == 50


def test_per_item_errors_become_dead_letters(osmem):
    store = osmem_store(osmem, "bad")
    conflicting = store.mapping(8)
    conflicting["mappings"]["properties"]["service"] = {"type": "long"}  # as if someone mapped it wrongly
    store.client.indices.create(index="bad-d8", body=conflicting)
    good, vecs = batch(5, service="42")
    bad, _ = batch(5, start=5, service="api")
    assert store.upsert(good, vecs) == []
    dead = store.upsert(bad, vecs)
    assert sorted(d.origin for d in dead) == [f"f:{i}" for i in range(5, 10)]
    assert all("opensearch refused the document (400)" in d.reason for d in dead)
    assert store.count() == 5


def test_kinds_late_flags_and_rate_events_are_written(osmem):
    """Anomaly kinds go with each document; a storm's earlier records are flagged by partial updates that keep
    their own reason; rate events get an index of their own."""
    from logvec.detect.rate import RateEvent

    store = osmem_store(osmem, "kinds")
    rb, vecs = batch(6)
    rb.is_anomaly = np.array([True, False, False, False, False, False])
    rb.reasons = ["new template (novelty 4 ≥ 3)", "", "", "", "", ""]
    rb.kinds = ["new_template,severity", "", "", "", "", ""]
    assert store.upsert(rb, vecs) == []
    store.flag_records([("f:2", "rate storm: 80 lines"), ("f:0", "rate storm: 80 lines")], "rate")
    store.client.indices.refresh(index="kinds")
    docs = {h["_id"]: h["_source"] for h in store.client.search(index="kinds", body={"size": 10})["hits"]["hits"]}
    assert docs["f:0"]["anomaly_kinds"] == ["new_template", "severity"] and docs["f:0"]["late_kinds"] == ["rate"]
    assert docs["f:0"]["reason"].startswith("new template") and docs["f:0"]["late_reason"] == "rate storm: 80 lines"
    assert docs["f:2"]["is_anomaly"] is True and docs["f:1"]["is_anomaly"] is False
    event = RateEvent("storm", "api", 4, 1.7e9, 60.0, 1.2, 80, 1e-30, "disk latency high")
    store.upsert_rate_events([event, event])  # a replayed window overwrites its event
    store.client.indices.refresh(index="kinds-events")
    got = store.rate_events()
    assert len(got) == 1 and got[0]["window_start"] == 1.7e9 and got[0]["observed"] == 80
    assert store.stats()["rate_events"] == 1


def test_an_index_from_before_kinds_gets_the_new_fields(osmem):
    store = osmem_store(osmem, "old")
    old = store.mapping(8)
    for name in ("anomaly_kinds", "session_kinds", "late_reason", "late_kinds"):
        del old["mappings"]["properties"][name]
    store.client.indices.create(index="old-d8", body=old)
    rb, vecs = batch(3)
    rb.kinds = ["", "", ""]
    assert store.upsert(rb, vecs) == []
    props = store.client.indices.get_mapping(index="old-d8")["old-d8"]["mappings"]["properties"]
    assert props["anomaly_kinds"] == {"type": "keyword"} and props["late_reason"] == {"type": "text"}


def test_dimension_change_moves_the_alias_to_a_new_index(osmem):
    store = osmem_store(osmem, "dims")
    store.ensure_index(8)
    store.ensure_index(16)
    assert store.alias_target() == "dims-d16"
    assert store.client.indices.exists(index="dims-d8")


def test_server_outage_mid_run_is_retried_and_nothing_is_lost(tmp_path):
    server = start_osmem(str(tmp_path))
    port = server.port
    store = osmem_store(server, "outage", max_retries=20)
    rb, vecs = batch(20)
    store.upsert(rb, vecs)
    server.stop()
    rb2, vecs2 = batch(30, start=20)
    result: dict = {}
    writer = threading.Thread(target=lambda: result.update(dead=store.upsert(rb2, vecs2)))
    writer.start()
    deadline = time.monotonic() + 30
    while store.retries < 2 and time.monotonic() < deadline:  # refused twice: it is retrying, not giving up
        time.sleep(0.05)
    assert store.retries >= 2 and writer.is_alive(), "the write must wait for the server, not give up"
    restarted = start_osmem(str(tmp_path), port=port)  # comes back empty: the emulator keeps nothing on disk
    try:
        writer.join(timeout=60)
        assert result["dead"] == [] and store.retries >= 1
        assert store.count() == 30  # the batch written across the outage is all there, mapping re-created
        assert store.info()["dimension"] == 8
    finally:
        restarted.stop()


def test_retries_exhausted_is_an_error(tmp_path):
    server = start_osmem(str(tmp_path))
    store = osmem_store(server, "gone", max_retries=2)
    server.stop()
    rb, vecs = batch(3)
    with pytest.raises(StoreUnavailableError, match="did not confirm 3 documents after 2 retries"):
        store.upsert(rb, vecs)


def test_pipeline_run_and_index_commands(osmem, hdfs_log, tmp_path):
    env = {"OPENSEARCH_URL": f"http://{osmem.address}", "OPENSEARCH_INDEX": "hdfs"}
    pipe = PIPELINES / "opensearch.yaml"
    summary = json.loads(logvec_cli("run", "-p", pipe, "-i", hdfs_log, "-d", tmp_path / "d", "--format", "json",
                                    env=env).stdout)
    assert summary["records"] == 4519 and summary["dead_letters"] == 0
    # the model is published in OpenSearch itself, and its records live in its own index behind the alias
    model = json.loads(logvec_cli("model", "show", "-p", pipe, env=env).stdout)
    assert model["active"] and model["version"] == 1
    info = json.loads(logvec_cli("index", "info", "-p", pipe, env=env).stdout)
    assert info["count"] == 4519 and info["index"] == f"hdfs-{model['model_id']}"
    assert info["dimension"] == model["meta"]["dim"]
    stats = json.loads(logvec_cli("stats", "-p", pipe, "-d", tmp_path / "elsewhere", "--format", "json",
                                  env=env).stdout)  # the read side needs no local model
    assert stats["records"] == 4519 and stats["model"]["model_id"] == model["model_id"]
    out = logvec_cli("index", "delete", "-p", pipe, "--yes", env=env).stdout.decode()
    assert f"hdfs-{model['model_id']}" in out
    assert json.loads(logvec_cli("index", "info", "-p", pipe, env=env).stdout)["index"] is None
    created = logvec_cli("index", "create", "-p", pipe, env=env).stdout.decode()
    assert f"hdfs-{model['model_id']}" in created


def test_documents_carry_no_secret(osmem, hdfs_log, tmp_path):
    """Redaction runs before the store: every document OpenSearch holds, read back whole, is free of the
    corpus's secrets, and the lines that held one say so (flag and marker)."""
    corpus = [s for s in secrets(12) if not s.line.startswith("{")]
    log = tmp_path / "in.log"
    log.write_text("\n".join(hdfs_log.read_text().splitlines()[:2000] + [s.line for s in corpus]) + "\n")
    env = {"OPENSEARCH_URL": f"http://{osmem.address}", "OPENSEARCH_INDEX": "secrets"}
    logvec_cli("run", "-p", PIPELINES / "opensearch.yaml", "-i", log, "-d", tmp_path / "d", env=env)
    client = OpenSearch(hosts=[f"http://{osmem.address}"])
    client.indices.refresh(index="secrets")
    docs = client.search(index="secrets", body={"query": {"match_all": {}}, "size": 10_000})["hits"]["hits"]
    assert len(docs) == 2000 + len(corpus)
    blob = json.dumps(docs).encode()
    assert not leaked(blob, corpus), [s.kind for s in leaked(blob, corpus)]
    redacted = [d["_source"] for d in docs if "redacted" in d["_source"].get("flags", "")]
    assert len(redacted) == len(corpus) and all("<REDACTED:" in d["message"] for d in redacted)


def test_osmem_refuses_knn_queries_so_search_needs_a_real_server(osmem):
    """What the emulator cannot verify: the k-NN search itself (see test_store_contract with OPENSEARCH_URL)."""
    store = osmem_store(osmem, "knnq")
    rb, vecs = batch(3)
    store.upsert(rb, vecs)
    from opensearchpy.exceptions import RequestError

    with pytest.raises(RequestError, match="not supported by osmem"):
        store.knn(np.eye(8, dtype=np.float32)[0], k=1)


def test_opensearch_pipeline_defaults_and_environment(monkeypatch):
    """pipelines/opensearch.yaml is the default pipeline with another store; hosts and index come from the
    environment when it sets them."""
    from logvec.config import load_pipeline

    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    monkeypatch.delenv("OPENSEARCH_INDEX", raising=False)
    cfg = load_pipeline(PIPELINES / "opensearch.yaml")
    assert cfg.store.hosts == ["http://127.0.0.1:9200"] and cfg.store.index == "logvec"
    default = load_pipeline(PIPELINES / "default.yaml")
    assert cfg.model_dump(exclude={"name", "description", "store"}) == \
        default.model_dump(exclude={"name", "description", "store"})
    monkeypatch.setenv("OPENSEARCH_URL", "https://search.example:9200")
    monkeypatch.setenv("OPENSEARCH_INDEX", "prod-logs")
    cfg = load_pipeline(PIPELINES / "opensearch.yaml")
    assert cfg.store.hosts == ["https://search.example:9200"] and cfg.store.index == "prod-logs"


def test_an_opensearch_that_does_not_answer_is_one_line_and_exit_1(tmp_path, hdfs_log):
    """Nothing listens: `stats` and `search` say so in one line; `run` retries, prints what it did, says why it
    stopped, exit 1 — no transport traceback."""
    from logvec.testing.servers import free_port

    env = {"OPENSEARCH_URL": f"http://127.0.0.1:{free_port()}", "OPENSEARCH_INDEX": "gone"}
    pipe = tmp_path / "down.yaml"
    pipe.write_text(f"extends: {PIPELINES / 'opensearch.yaml'}\nstore:\n  type: opensearch\n"
                    "  bulk: {max_retries: 1, backoff: 100ms, max_backoff: 200ms}\n")
    for command in (["stats", "-p", pipe, "-d", tmp_path / "d"],
                    ["search", "Receiving block", "-p", pipe, "-d", tmp_path / "d"],
                    ["model", "list", "-p", pipe],
                    ["run", "-p", pipe, "-i", hdfs_log, "-d", tmp_path / "d"]):  # its model is published there
        proc = logvec_cli(*command, env=env, check=False)
        said = proc.stderr.decode()
        assert proc.returncode == 1 and "does not answer" in said and "Traceback" not in said, said[-2000:]
        assert len(said.splitlines()) == 1 + ("retry" in said), said


def test_a_store_that_does_not_answer_mid_run_is_the_summary_one_line_and_exit_1(tmp_path, hdfs_log):
    """With the models in the data directory (`registry.type: local`) the worker fits and starts; its writes
    are retried, then it prints what it did and why it stopped, exit 1, nothing committed."""
    server = start_osmem(str(tmp_path))
    env = {"OPENSEARCH_URL": f"http://{server.address}", "OPENSEARCH_INDEX": "gone"}
    pipe = tmp_path / "down.yaml"
    pipe.write_text(f"extends: {PIPELINES / 'opensearch.yaml'}\nstore:\n  type: opensearch\n"
                    "  bulk: {max_retries: 1, backoff: 100ms, max_backoff: 200ms}\nregistry:\n  type: local\n")
    try:
        logvec_cli("fit", "-p", pipe, "-i", hdfs_log, "-d", tmp_path / "d", env=env)  # activating moves the alias
    finally:
        server.stop()
    run = logvec_cli("run", "-p", pipe, "-i", hdfs_log, "-d", tmp_path / "d", "--format", "json", env=env,
                     check=False)
    assert run.returncode == 1 and b"Traceback" not in run.stderr, run.stderr.decode()[-2000:]
    assert b"nothing of this batch is committed" in run.stderr, run.stderr.decode()[-2000:]
    assert json.loads(run.stdout)["records"] == 0  # the summary of what was stored: nothing


def test_the_api_answers_503_when_opensearch_does_not(tmp_path, hdfs_log, monkeypatch):
    from fastapi.testclient import TestClient

    from logvec.api import create_app
    from logvec.config import load_pipeline

    server = start_osmem(str(tmp_path))
    monkeypatch.setenv("OPENSEARCH_URL", f"http://{server.address}")
    try:
        logvec_cli("fit", "-p", PIPELINES / "opensearch.yaml", "-i", hdfs_log, "-d", tmp_path / "d")
    finally:
        server.stop()
    client = TestClient(create_app(load_pipeline(PIPELINES / "opensearch.yaml"), tmp_path / "d",
                                   access=OPEN_ACCESS))
    r = client.get("/api/search", params={"q": "Receiving block blk_1"})
    assert r.status_code == 503 and "does not answer" in r.json()["detail"]


def test_incidents_feedback_context_and_histogram_in_opensearch(osmem, tmp_path, monkeypatch):
    """The incidents path against the emulator: incidents built while the pipeline writes to OpenSearch, kept in
    the model version's incidents index (signature as a knn_vector), similar ones, a rebuild, marks, the lines
    around a record, the time histogram (an aggregation) and the templates search reads for their meaning."""
    from dataclasses import replace

    from logvec.config import load_pipeline
    from logvec.pipeline import Runner
    from logvec.searcher import Searcher
    from tests.support import raw_batches
    from tests.synthetic import incident_logs

    monkeypatch.setenv("OPENSEARCH_URL", f"http://{osmem.address}")
    monkeypatch.setenv("OPENSEARCH_INDEX", "inc")
    config = load_pipeline(PIPELINES / "opensearch.yaml")
    config.store.replicas = 0
    t0 = 1_700_000_000.0
    clean, _ = incident_logs(60, seed=1, start=t0)
    hours, labels = incident_logs(150, seed=2, start=t0 + 3600,
                                  incidents=[("disk_full", 20, 3, "node-03"), ("db_down", 60, 3, ""),
                                             ("disk_full", 120, 3, "node-06")])

    runner = Runner(config, tmp_path / "w", load_model=False)
    runner.fit(raw_batches(clean, "clean.log"), activate_it=True)
    summary = runner.run(raw_batches(hours, "hours.log"))
    runner.close()
    assert summary.incidents == 3

    searcher = Searcher(config, tmp_path / "reader")
    model_id = searcher.require_model().model_id
    found = sorted(searcher.incidents(), key=lambda i: i.start)
    assert len(found) == 3 and all(i.model_id == model_id for i in found)
    client = OpenSearch(hosts=[f"http://{osmem.address}"])
    mapping = client.indices.get_mapping(index=f"inc-incidents-{model_id}")[f"inc-incidents-{model_id}"]
    signature = mapping["mappings"]["properties"]["signature"]
    assert signature["type"] == "knn_vector" and signature["dimension"] == searcher.model.meta["dim"]
    (best, score), *_ = searcher.similar_incidents(searcher.incident(found[2].id))
    assert best.id == found[0].id and score > 0.9
    assert {(i.id, i.anomalies) for i in searcher.rebuild_incidents()} == {(i.id, i.anomalies) for i in found}

    example = found[1].top_templates[0]["example_id"]
    around = searcher.context(example, before=3, after=3)
    assert around["by"] == "source" and len(around["lines"]) == 7
    assert [x["id"] for x in around["lines"]][3] == example
    histogram = searcher.histogram()
    assert sum(sum(v) for v in histogram["lines"].values()) == len(hours)
    assert sum(sum(v) for v in histogram["anomalies"].values()) == summary.anomalies
    assert any("No space left on device" in t for t in searcher.store.template_texts())
    first, last = searcher.store.time_range()
    assert first is not None and last - first > 140 * 60

    marks = searcher.mark_normal("sre", incident_id=found[1].id, note="failover")
    assert {m.key for m in searcher.store.feedback()} == {m.key for m in marks}
    searcher.store.upsert_feedback([replace(marks[0], note="changed")])
    assert {m.note for m in searcher.store.feedback()} == {"failover", "changed"}
    assert searcher.unmark(marks[0].key) and not searcher.unmark(marks[0].key)
    assert searcher.resolve(found[1].id, "done", by="sre").status == "resolved"
    assert searcher.incident(found[1].id).resolution["note"] == "done"
    searcher.close()
