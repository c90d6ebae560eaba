"""Who may read the API (issue 18): bearer tokens and an authenticating proxy's header, a Host allow-list,
security headers, offline docs, query caps, no absolute server path in answers, and `serve` refusing to open
log contents to a network with no authentication."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from logvec.access import AccessError, AccessPolicy, read_tokens
from logvec.api import MAX_GET_QUERY, create_app
from logvec.config import load_pipeline
from logvec.testing.metrics import parse_metrics
from tests.support import PIPELINES, logvec_cli

ALICE, BOB = "alice-" + "a" * 24, "bob-" + "b" * 28


@pytest.fixture(scope="module")
def data(tmp_path_factory, hdfs_log):
    d = tmp_path_factory.mktemp("access")
    logvec_cli("run", "-p", PIPELINES / "default.yaml", "-i", hdfs_log, "-d", d)
    return d


def app_with(data, tmp_path, **policy):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# who may read\nalice:{ALICE}\n\n{BOB}\n")
    access = AccessPolicy(**{"tokens": read_tokens(token_file=tokens), "allowed_hosts": ("testserver",), **policy})
    return TestClient(create_app(load_pipeline(PIPELINES / "default.yaml"), data, access=access))


def test_bearer_tokens_401_without_or_wrong_200_right_and_probes_stay_open(data, tmp_path, caplog):
    c = app_with(data, tmp_path)
    q = {"q": "Receiving block blk_1 src: /10.0.0.1:50010", "k": 3}
    none = c.get("/api/search", params=q)
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in none.json()["detail"]
    assert c.get("/api/stats", headers={"Authorization": f"Bearer {ALICE}x"}).status_code == 401
    assert c.get("/api/stats", headers={"Authorization": f"Basic {ALICE}"}).status_code == 401
    with caplog.at_level(logging.INFO, logger="logvec.access"):
        ok = c.get("/api/search", params=q, headers={"Authorization": f"Bearer {ALICE}"})
        assert c.get("/api/stats", headers={"Authorization": f"Bearer {BOB}"}).status_code == 200
    assert ok.status_code == 200 and len(ok.json()) == 3
    logged = [r.getMessage() for r in caplog.records if r.name == "logvec.access"]
    assert any(" alice \"GET /api/search\" 200 " in m for m in logged), logged
    assert any(" token-4 \"GET /api/stats\" 200 " in m for m in logged), logged
    assert not any("blk_1" in m for m in logged)  # the query (a log line) is not in the access log
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert c.get(probe, headers={"Host": "10.1.2.3:8080"}).status_code == 200  # kubelet, Prometheus
    metrics = parse_metrics(c.get("/metrics").text)
    assert metrics['logvec_http_requests_total{method="GET",route="/api/search",status="401"}'] >= 1
    assert metrics['logvec_http_requests_total{method="GET",route="/api/search",status="200"}'] >= 1
    assert metrics['logvec_http_request_seconds_count{route="/api/search"}'] >= 2


def test_an_authenticating_proxys_header_is_the_user(data, tmp_path):
    c = app_with(data, tmp_path, tokens={}, proxy_header="X-Forwarded-User")
    refused = c.get("/api/stats")
    assert refused.status_code == 401 and "X-Forwarded-User" in refused.json()["detail"]
    assert c.get("/api/stats", headers={"X-Forwarded-User": "carol@example.com"}).status_code == 200


def test_host_allow_list_and_security_headers(data, tmp_path):
    c = app_with(data, tmp_path, open=True)
    evil = c.get("/api/stats", headers={"Host": "evil.example:8080"})
    assert evil.status_code == 400 and "--allowed-host" in evil.json()["detail"]
    assert c.get("/", headers={"Host": "evil.example"}).status_code == 400  # a rebinding page reads nothing
    page = c.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert c.get("/api/stats").headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and "<style>" not in page.text  # all of it under the CSP's 'self'
    for asset in ("/assets/page.js", "/assets/page.css"):
        assert c.get(asset).status_code == 200
    wildcard = app_with(data, tmp_path, open=True, allowed_hosts=("*.example.com",))
    assert wildcard.get("/api/stats", headers={"Host": "logvec.example.com"}).status_code == 200
    assert wildcard.get("/api/stats", headers={"Host": "example.org"}).status_code == 400


def test_api_docs_work_offline(data, tmp_path):
    c = app_with(data, tmp_path, open=True)
    for path in ("/docs", "/redoc"):
        html = c.get(path).text
        assert "cdn" not in html.lower() and "/assets/docs/" in html
    assert c.get("/assets/docs/swagger-ui-bundle.js").status_code == 200
    assert c.get("/assets/docs/redoc.standalone.js").status_code == 200
    spec = c.get("/openapi.json").json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]  # the Authorize button


def test_query_caps_are_clear_json_and_long_lines_go_by_post(data, tmp_path):
    c = app_with(data, tmp_path, open=True)
    long = "Receiving block " + "x" * MAX_GET_QUERY
    too_long = c.get("/api/search", params={"q": long})
    assert too_long.status_code == 414 and "POST" in too_long.json()["detail"]
    posted = c.post("/api/search", json={"q": long, "k": 2})
    assert posted.status_code == 200 and len(posted.json()) == 2
    huge = c.post("/api/search", json={"q": "x" * 70_000})
    assert huge.status_code == 413 and "at most" in huge.json()["detail"]
    body = c.post("/api/search", content=b'{"q": "' + b"y" * (2 << 20) + b'"}',
                  headers={"Content-Type": "application/json"})
    assert body.status_code == 413 and "request body" in body.json()["detail"]
    same = c.post("/api/search", json={"q": "PacketResponder 1 terminating", "k": 5}).json()
    assert same == c.get("/api/search", params={"q": "PacketResponder 1 terminating", "k": 5}).json()


def test_answers_hold_no_absolute_server_path(data, tmp_path, hdfs_log):
    c = app_with(data, tmp_path, open=True)
    texts = [c.get(p, params=q).text for p, q in (
        ("/api/stats", {}), ("/api/search", {"q": "Receiving block", "k": 20}), ("/api/sessions", {}),
        ("/api/events", {}), ("/readyz", {}))]
    for text in texts:
        assert str(data) not in text and str(hdfs_log.parent.resolve()) not in text, text[:300]
    assert '"hdfs_5k/HDFS_5k.log:' in texts[1]
    # a path inside a log line is the log's, not the server's: shown as logged
    line = hdfs_log.read_text().splitlines()[1]  # NameSystem.allocateBlock: /mnt/hadoop/mapred/system/...
    (hit,) = c.get("/api/search", params={"q": line, "k": 1}).json()
    assert "/mnt/hadoop/mapred/system/job_200811092030_0001/job.jar" in hit["message"] and hit["id"].endswith(":2")


def test_serve_refuses_an_open_bind_without_authentication(tmp_path):
    r = logvec_cli("serve", "-p", PIPELINES / "default.yaml", "-d", tmp_path, "--host", "0.0.0.0", check=False,
                   env={"LOGVEC_API_TOKEN": "", "LOGVEC_API_TOKEN_FILE": ""}, timeout=60)
    assert r.returncode == 2 and b"without authentication" in r.stderr
    short = logvec_cli("serve", "-p", PIPELINES / "default.yaml", "-d", tmp_path, "--host", "0.0.0.0", check=False,
                       env={"LOGVEC_API_TOKEN": "short"}, timeout=60)
    assert short.returncode == 2 and b"at least 16 characters" in short.stderr


def test_policy_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LOGVEC_API_TOKEN", raising=False)
    local = AccessPolicy.from_environment("127.0.0.1")
    assert local.open and not local.host_allowed("evil.example") and local.host_allowed("localhost:8080")
    with pytest.raises(AccessError, match="--insecure-no-auth"):
        AccessPolicy.from_environment("0.0.0.0")
    assert AccessPolicy.from_environment("0.0.0.0", insecure_no_auth=True).open
    monkeypatch.setenv("LOGVEC_API_TOKEN", ALICE)
    monkeypatch.setenv("LOGVEC_API_ALLOWED_HOSTS", "logvec.internal, *.svc.cluster.local")
    pod = AccessPolicy.from_environment("0.0.0.0")
    assert not pod.open and pod.host_allowed("logvec-api.ns.svc.cluster.local:8080")
    assert not pod.host_allowed("evil.example")
    bad = tmp_path / "tokens"
    bad.write_text("ok:" + "k" * 20 + "\nbad name:" + "z" * 20 + "\n")
    with pytest.raises(AccessError, match=r"tokens:2: a name is"):
        read_tokens(token_file=bad)
