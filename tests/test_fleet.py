"""A fleet of workers on one model (the model registry), against real Kafka-protocol brokers (Tansu and noida-db)
and osmem-server: each worker has its own data directory, as Kubernetes pods do, and the model is published in
OpenSearch. Also the read side with Kafka down.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from logvec.testing import wait_until
from logvec.testing.kafka import committed, create_topic, produce, record_ids, start_worker
from logvec.testing.servers import start_kafka, start_osmem

from tests.support import OPEN_ACCESS, PIPELINES, logvec_cli

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def osmem(tmp_path_factory):
    server = start_osmem(str(tmp_path_factory.mktemp("osmem")))
    yield server
    server.stop()


def sized_pipeline(name: str, tmp_path: Path, extra: str = "") -> Path:
    """A shipped Kafka pipeline with test-sized batches, warm-up and timeouts; everything else as shipped."""
    text = (PIPELINES / name).read_text()
    for old, new in (("max_poll_records: 10000", "max_poll_records: 500"),
                     ("session_timeout: 10s", "session_timeout: 6s"),
                     ("max_poll_interval: 5m", "max_poll_interval: 20s"),
                     ("batch_size: 10000", "batch_size: 500"), ("warmup_lines: 20000", "warmup_lines: 1000")):
        if new in text:  # shipped that way already
            continue
        assert old in text, f"pipelines/{name} no longer reads as this test expects: {old}"
        text = text.replace(old, new)
    p = tmp_path / f"test-{name}"
    p.write_text(text + extra)
    return p


FLEET = "registry:\n  lease_ttl: 3s\n  poll_interval: 1s\n"


def fleet_env(monkeypatch, osmem, index: str) -> OpenSearch:
    monkeypatch.setenv("OPENSEARCH_URL", f"http://{osmem.address}")
    monkeypatch.setenv("OPENSEARCH_INDEX", index)
    return OpenSearch(hosts=[f"http://{osmem.address}"])


def finish(proc: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out)


def documents(client: OpenSearch, index: str) -> list[dict]:
    """Every document, read in pages of 10,000 (the server's result window), sorted by id."""
    client.indices.refresh(index=index)
    docs: list[dict] = []
    after: list = []
    while True:
        body = {"query": {"match_all": {}}, "size": 10_000, "sort": [{"_id": "asc"}], "version": True,
                **({"search_after": after} if after else {})}
        page = client.search(index=index, body=body)["hits"]["hits"]
        docs += page
        if len(page) < 10_000:
            return docs
        after = page[-1]["sort"]


def count(client: OpenSearch, index: str) -> int:
    client.indices.refresh(index=index, ignore=[404])
    return int(client.count(index=index, ignore=[404]).get("count", 0))


def versions(pipe: Path) -> list[dict]:
    return json.loads(logvec_cli("model", "list", "-p", pipe, "--format", "json").stdout)


def test_three_workers_with_their_own_data_directories_write_one_model(broker, osmem, hdfs_lines, tmp_path,
                                                                       monkeypatch):
    """Started together, nothing published: one fits and publishes, two wait and load that version; every
    document carries its id, one index is behind the alias, and every message is processed once."""
    topic, group = create_topic(broker, partitions=3), "g-fleet"
    index = f"fleet-{topic}"  # the module's brokers share one OpenSearch
    client = fleet_env(monkeypatch, osmem, index)
    values = (hdfs_lines * 2)[:6000]
    ends = produce(broker, topic, values)
    pipe = sized_pipeline("stack.yaml", tmp_path, FLEET)
    workers = [start_worker(pipe, tmp_path / f"pod-{i}", broker, topic, group, idle=6) for i in range(3)]
    summaries = [finish(w) for w in workers]
    assert sorted(s["fitted"] for s in summaries) == [False, False, True], summaries
    (version,) = versions(pipe)
    model_id = version["model_id"]
    assert version["active"] and version["meta"]["baseline_lines"] >= 1000
    for i in range(3):  # each pod's working copy is the published version
        assert json.loads((tmp_path / f"pod-{i}" / "model" / "meta.json").read_text())["model_id"] == model_id
    assert list(client.indices.get_alias(name=index)) == [f"{index}-{model_id}"]
    docs = documents(client, index)
    assert {d["_source"]["model_id"] for d in docs} == {model_id}
    assert {d["_id"] for d in docs} == record_ids(topic, ends)
    # every message stored once; a delivery stored again (a rebalance as the waiting pods join hands a batch
    # in hand to another: at-least-once) is a new version of its document, so the workers' counts add up
    assert len(docs) == len(values)
    assert sum(s["records"] for s in summaries) == len(docs) + sum(d["_version"] - 1 for d in docs)


def test_a_lease_whose_holder_was_killed_lapses_and_another_worker_publishes(broker, osmem, hdfs_lines,
                                                                            tmp_path, monkeypatch):
    """A worker takes the fit lease and waits for warm-up lines on an empty topic; it is killed (SIGKILL: no
    release) and its pod restarts (the same static member and volume, a new process), which waits until the
    dead process's lease lapses, takes it over, fits and publishes. (Static membership, as the StatefulSet
    runs it: noida-db never settles a group whose dynamic member died without leaving.)"""
    topic, group = create_topic(broker, partitions=2), "g-lapse"
    index = f"lapse-{topic}"
    client = fleet_env(monkeypatch, osmem, index)
    pipe = sized_pipeline("stack.yaml", tmp_path, FLEET)
    first = start_worker(pipe, tmp_path / "pod-0", broker, topic, group, idle=None, instance="pod-0")
    lease = {}

    def held() -> bool:
        found = client.get(index=f"{index}-models", id="lease-fit", ignore=[404])
        lease.update(found.get("_source") or {})
        return bool(found.get("found"))

    wait_until(held, timeout=60, every=0.2)
    assert lease["holder"].endswith(f":{first.pid}")
    first.send_signal(signal.SIGKILL)
    first.wait()
    ends = produce(broker, topic, hdfs_lines[:3000])
    second = start_worker(pipe, tmp_path / "pod-0", broker, topic, group, idle=5, instance="pod-0")
    summary = finish(second)
    assert summary["fitted"] and summary["records"] == 3000
    (version,) = versions(pipe)
    assert version["active"] and version["meta"]["published_by"].endswith(f":{second.pid}")
    assert not held()  # released once the fitted lines were stored
    docs = documents(client, index)
    assert {d["_source"]["model_id"] for d in docs} == {version["model_id"]}
    assert {d["_id"] for d in docs} == record_ids(topic, ends)


def test_a_fit_job_reads_the_topic_and_the_workers_then_read_every_line(broker, osmem, hdfs_lines, tmp_path,
                                                                         monkeypatch):
    """`logvec fit` on a Kafka pipeline without --input (deploy/k8s's fit Job) fits on the topic's first warm-up
    lines under a group of its own that commits nothing, and publishes; a worker then loads that version and
    stores every message, the ones the fit read included."""
    topic, group = create_topic(broker, partitions=2), "g-job"
    index = f"job-{topic}"
    client = fleet_env(monkeypatch, osmem, index)
    ends = produce(broker, topic, hdfs_lines[:3000])
    pipe = sized_pipeline("stack.yaml", tmp_path, FLEET)
    env = {"KAFKA_BOOTSTRAP": broker, "KAFKA_TOPIC": topic, "KAFKA_GROUP": group,
           "KAFKA_DEAD_LETTER_TOPIC": f"{topic}-dlq", "KAFKA_GROUP_INSTANCE_ID": ""}
    out = logvec_cli("fit", "-p", pipe, "-d", tmp_path / "job", "--idle", "3", env=env).stdout.decode()
    assert "model version 1 (" in out and "and active" in out and "1,000 baseline records" in out, out
    assert committed(broker, f"{group}-fit", topic, ends) == {p: None for p in ends}
    summary = finish(start_worker(pipe, tmp_path / "pod-0", broker, topic, group, idle=4))
    assert not summary["fitted"] and summary["records"] == 3000
    (version,) = versions(pipe)
    docs = documents(client, index)
    assert {d["_source"]["model_id"] for d in docs} == {version["model_id"]}
    assert {d["_id"] for d in docs} == record_ids(topic, ends)


def test_running_workers_switch_to_a_newly_activated_version(broker, osmem, hdfs_lines, tmp_path, monkeypatch):
    """`logvec fit` publishes a second version; `logvec model activate 2` moves the alias; a running worker
    notices at its next look and writes what comes next with version 2, into version 2's index, while version
    1's records stay searchable in theirs."""
    topic, group = create_topic(broker, partitions=2), "g-switch"
    index = f"switch-{topic}"
    client = fleet_env(monkeypatch, osmem, index)
    pipe = sized_pipeline("stack.yaml", tmp_path, FLEET)
    first_ends = produce(broker, topic, hdfs_lines[:2000])
    worker = start_worker(pipe, tmp_path / "pod-0", broker, topic, group, idle=None)
    try:
        wait_until(lambda: len(versions(pipe)) == 1, timeout=90, every=0.5)
        v1 = versions(pipe)[0]["model_id"]
        wait_until(lambda: count(client, f"{index}-{v1}") == 2000,
                   timeout=90, every=0.5)
        baseline = tmp_path / "baseline.log"
        baseline.write_bytes(b"\n".join(hdfs_lines[2000:4000]) + b"\n")
        out = logvec_cli("fit", "-p", pipe, "-i", baseline, "-d", tmp_path / "fit-job").stdout.decode()
        assert "model version 2" in out and "not active" in out, out
        logvec_cli("model", "activate", "2", "-p", pipe)
        v2 = versions(pipe)[1]["model_id"]
        assert list(client.indices.get_alias(name=index)) == [f"{index}-{v2}"]
        wait_until(lambda: json.loads((tmp_path / "pod-0" / "model" / "meta.json").read_text())["model_id"] == v2,
                   timeout=30, every=0.2)  # the worker switched (its working copy is version 2)
        second_ends = produce(broker, topic, hdfs_lines[4000:4500])
        wait_until(lambda: count(client, f"{index}-{v2}") == 500, timeout=60, every=0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
    finish(worker)
    old, new = documents(client, f"{index}-{v1}"), documents(client, f"{index}-{v2}")
    assert {d["_source"]["model_id"] for d in old} == {v1} and {d["_source"]["model_id"] for d in new} == {v2}
    before = record_ids(topic, first_ends)  # ids are topic/partition/offset: the second lot's come after
    assert {d["_id"] for d in old} == before and {d["_id"] for d in new} == record_ids(topic, second_ends) - before


def test_the_read_side_works_with_kafka_down(hdfs_lines, tmp_path, monkeypatch):
    """`stats`, `search` and the API open no Kafka producer or consumer: with the broker stopped they answer,
    and dead letters in the Kafka topic are unknown here, not 0."""
    from fastapi.testclient import TestClient

    from logvec.api import create_app
    from logvec.config import load_pipeline

    kafka = start_kafka("tansu", str(tmp_path))
    try:
        topic = create_topic(kafka.address, partitions=1)
        produce(kafka.address, topic, hdfs_lines[:2000] + [b"\xff\xfe not utf-8"])
        pipe = sized_pipeline("kafka.yaml", tmp_path)
        summary = finish(start_worker(pipe, tmp_path / "d", kafka.address, topic, "g-down", idle=6))
        assert summary["records"] == 2000 and summary["dead_letters"] == 1
    finally:
        kafka.stop()
    env = {"KAFKA_BOOTSTRAP": kafka.address, "KAFKA_TOPIC": topic, "KAFKA_DEAD_LETTER_TOPIC": f"{topic}-dlq"}
    stats = json.loads(logvec_cli("stats", "-p", pipe, "-d", tmp_path / "d", "--format", "json", env=env).stdout)
    assert stats["records"] == 2000 and stats["dead_letters"] is None
    assert stats["dead_letters_in"] == f"Kafka topic {topic}-dlq"
    table = logvec_cli("stats", "-p", pipe, "-d", tmp_path / "d", env=env).stdout.decode()
    assert "unknown (in Kafka topic" in table
    hits = json.loads(logvec_cli("search", "Receiving block blk_1", "-p", pipe, "-d", tmp_path / "d", "--format",
                                 "json", env=env).stdout)
    assert len(hits) == 10 and hits[0]["message"].startswith("Receiving block")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client = TestClient(create_app(load_pipeline(pipe), tmp_path / "d", access=OPEN_ACCESS))
    with client:
        assert client.get("/readyz").status_code == 200
        r = client.get("/api/search", params={"q": "Receiving block blk_1", "k": 3})
        assert r.status_code == 200 and len(r.json()) == 3
        assert client.get("/api/stats").json()["dead_letters"] is None
