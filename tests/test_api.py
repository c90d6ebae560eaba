"""The HTTP API and the search page, over a store filled by `logvec run` on HDFS_5k."""

import json

import pytest
from fastapi.testclient import TestClient

from logvec.api import create_app
from logvec.config import load_pipeline

from tests.support import OPEN_ACCESS, PIPELINES, logvec_cli


@pytest.fixture(scope="module")
def client(tmp_path_factory, hdfs_log):
    data = tmp_path_factory.mktemp("api")
    logvec_cli("run", "-p", PIPELINES / "default.yaml", "-i", hdfs_log, "-d", data)
    return TestClient(create_app(load_pipeline(PIPELINES / "default.yaml"), data, access=OPEN_ACCESS))


def test_search_returns_typed_hits_best_first(client, hdfs_log):
    line = hdfs_log.read_text().splitlines()[249]
    r = client.get("/api/search", params={"q": line, "k": 5})
    assert r.status_code == 200
    hits = r.json()
    assert hits[0]["id"] == "hdfs_5k/HDFS_5k.log:250" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_filters_and_bad_input(client):
    r = client.get("/api/search", params={"q": "blockMap updated: 10.251.111.209:50010 is added to blk_1",
                                          "service": "dfs.FSNamesystem"})
    assert r.status_code == 200 and r.json() and {h["service"] for h in r.json()} == {"dfs.FSNamesystem"}
    r = client.get("/api/search", params={"q": "PacketResponder 1 terminating", "service": "dfs.FSNamesystem"})
    assert r.status_code == 200 and r.json() == []  # nothing of that service is close: no noise listed
    assert client.get("/api/search", params={"q": "x", "since": "last tuesday"}).status_code == 422
    assert client.get("/api/search").status_code == 422  # q is required


def test_stats_health_ready_metrics_page(client):
    stats = client.get("/api/stats").json()
    assert stats["records"] == 4519 and stats["model"]["vectorizer"] == "tfidf"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True, "records": 4519}
    assert "logvec_vectorizer_cache_requests_total" in client.get("/metrics").text
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/assets/page.js">' in page.text
    assert "/api/search" in client.get("/assets/page.js").text


def test_not_ready_without_a_model_then_picks_up_the_one_a_worker_fits(tmp_path, hdfs_log):
    """The API pod often starts before the worker has fitted: it answers 503 until then, and serves the
    model as soon as it is there, without a restart."""
    c = TestClient(create_app(load_pipeline(PIPELINES / "default.yaml"), tmp_path, access=OPEN_ACCESS))
    r = c.get("/readyz")
    assert r.status_code == 503 and "no model" in r.json()["reason"]
    assert c.get("/api/search", params={"q": "x"}).status_code == 503
    assert json.loads(c.get("/healthz").text)["status"] == "ok"
    logvec_cli("run", "-p", PIPELINES / "default.yaml", "-i", hdfs_log, "-d", tmp_path)
    assert c.get("/readyz").json() == {"ready": True, "records": 4519}
    line = hdfs_log.read_text().splitlines()[9]
    assert c.get("/api/search", params={"q": line, "k": 1}).json()[0]["id"] == "hdfs_5k/HDFS_5k.log:10"


def test_a_model_of_another_pipeline_is_reported_not_served(tmp_path, hdfs_log):
    logvec_cli("run", "-p", PIPELINES / "default.yaml", "-i", hdfs_log, "-d", tmp_path)
    c = TestClient(create_app(load_pipeline(PIPELINES / "bow.yaml"), tmp_path, access=OPEN_ACCESS))
    r = c.get("/readyz")
    assert r.status_code == 503 and "another pipeline configuration" in r.json()["reason"]


def test_a_damaged_store_is_a_503_that_says_what_is_wrong(tmp_path, hdfs_log):
    data = tmp_path / "d"
    logvec_cli("run", "-p", PIPELINES / "default.yaml", "-i", hdfs_log, "-d", data)
    vectors = data / "store" / "vectors.f32"
    vectors.write_bytes(vectors.read_bytes()[:-4096])
    client = TestClient(create_app(load_pipeline(PIPELINES / "default.yaml"), data, access=OPEN_ACCESS))
    r = client.get("/api/search", params={"q": "Receiving block blk_1"})
    assert r.status_code == 503 and "was cut short" in r.json()["detail"]
    assert client.get("/api/stats").json()["problems"]


def test_a_sessions_lines(tmp_path, hdfs_log):
    """An anomalous HDFS block's lines: those of its span that carry its key, every one of them, in time order."""
    from logvec.pipeline import Runner
    from logvec.records import RawBatch

    pipe = tmp_path / "sessions.yaml"
    pipe.write_text(f"extends: {PIPELINES / 'default.yaml'}\nsession:\n  key: '(blk_-?\\d+)'\n")
    config = load_pipeline(pipe)
    lines = hdfs_log.read_text().splitlines()
    runner = Runner(config, tmp_path / "d", load_model=False)
    runner.fit([RawBatch(lines[:2500], [f"fit:{i}" for i in range(2500)])], activate_it=True)
    runner.run([RawBatch(lines[2500:], [f"hdfs.log:{i + 2501}" for i in range(len(lines) - 2500)])])
    runner.close()
    client = TestClient(create_app(config, tmp_path / "d", access=OPEN_ACCESS))
    sessions = client.get("/api/sessions", params={"anomalies": True, "limit": 5}).json()
    assert sessions
    for s in sessions:
        got = client.get("/api/sessions/lines", params={"key": s["key"]}).json()
        assert got["session"]["key"] == s["key"] and len(got["lines"]) == s["lines"]
        assert all(s["key"] in line["message"] for line in got["lines"])
        times = [line["timestamp"] for line in got["lines"]]
        assert times == sorted(times)
    assert client.get("/api/sessions/lines", params={"key": "blk_no_such"}).status_code == 404


def test_incidents_feedback_context_and_histogram_endpoints(tmp_path):
    """The incident endpoints over HTTP, with a token: who resolves and who marks is the caller's identity."""
    from logvec.access import AccessPolicy, read_tokens
    from logvec.pipeline import Runner
    from logvec.records import RawBatch
    from tests.synthetic import incident_logs

    config = load_pipeline(PIPELINES / "default.yaml")
    t0 = 1_700_000_000.0
    clean, _ = incident_logs(60, seed=1, start=t0)
    hours, _ = incident_logs(150, seed=2, start=t0 + 3600, incidents=[
        ("disk_full", 20, 3, "node-03"), ("db_down", 60, 3, ""), ("disk_full", 120, 3, "node-06")])
    runner = Runner(config, tmp_path, load_model=False)
    runner.fit([RawBatch(clean, [f"/var/log/shop/clean.log:{i + 1}" for i in range(len(clean))])], activate_it=True)
    runner.run([RawBatch(hours, [f"/var/log/shop/hours.log:{i + 1}" for i in range(len(hours))])])
    runner.close()
    (tmp_path / "tokens").write_text("alice:" + "a" * 40 + "\n")
    access = AccessPolicy(tokens=read_tokens(token_file=tmp_path / "tokens"), allowed_hosts=("testserver",))
    client = TestClient(create_app(config, tmp_path, access=access), headers={"Authorization": "Bearer " + "a" * 40})
    assert TestClient(create_app(config, tmp_path, access=access)).get("/api/incidents").status_code == 401

    listed = client.get("/api/incidents").json()
    assert len(listed) == 3 and [i["start"] for i in listed] == sorted((i["start"] for i in listed), reverse=True)
    assert {"id", "start", "end", "services", "anomalies", "kinds", "top_templates", "summary"} <= set(listed[0])
    latest, db, first = listed
    one = client.get(f"/api/incidents/{latest['id']}").json()
    assert sum(sum(v) for v in one["timeline"]["anomalies"].values()) == latest["anomalies"]
    similar = client.get(f"/api/incidents/{latest['id']}/similar").json()
    assert similar[0]["id"] == first["id"] and similar[0]["score"] > 0.9 and similar[0]["why"]["templates"]
    pasted = client.post("/api/incidents/similar", json={"lines": "\n".join(
        x for x in hours if "could not connect to primary" in x)}).json()
    assert pasted[0]["id"] == db["id"]
    assert client.get("/api/incidents/nope/similar").status_code == 404

    example = latest["top_templates"][0]["example_id"]
    assert example.startswith("shop/hours.log:")  # the server's path cut to its last two parts
    around = client.get("/api/records/context", params={"id": example, "before": 2, "after": 2}).json()
    assert around["by"] == "source" and [x["id"] for x in around["lines"]][2] == example
    histogram = client.get("/api/histogram", params={"buckets": 10}).json()
    assert sum(sum(v) for v in histogram["lines"].values()) == len(hours)

    resolved = client.post(f"/api/incidents/{db['id']}/resolve", json={"note": "failover"}).json()
    assert resolved["status"] == "resolved" and resolved["resolution"]["by"] == "alice"
    marks = client.post("/api/feedback/normal", json={"incident": db["id"], "expires": "7d"}).json()
    assert marks and all(m["by"] == "alice" and m["until"] for m in marks)
    assert client.post("/api/feedback/normal", json={"expires": "7d"}).status_code == 422  # no incident, no template
    assert client.post("/api/feedback/normal", json={"template": "x", "expires": "soon"}).status_code == 422
    assert len(client.get("/api/feedback").json()) == len(marks)
    assert client.delete(f"/api/feedback/{marks[0]['key']}").json() == {"unmarked": marks[0]["key"]}
    assert client.delete(f"/api/feedback/{marks[0]['key']}").status_code == 404
