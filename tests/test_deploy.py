"""The deployment files stay valid: the compose stack against the Compose specification, the Kubernetes
manifests and the dashboard against what they refer to (metrics that exist, pipelines that validate)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from logvec import metrics
from logvec.config import load_pipeline

from tests.support import PIPELINES, ROOT


def test_compose_file_follows_the_compose_spec():
    from compose_spec import PyCompose

    text = (ROOT / "deploy" / "compose.yaml").read_text()
    compose = PyCompose.from_yaml(text)
    compose.validate()
    assert set(compose.service_names()) == {"kafka", "opensearch", "dashboards", "logvec"}
    doc = yaml.safe_load(text)
    for name, svc in doc["services"].items():
        for dep in svc.get("depends_on", {}):
            assert dep in doc["services"], f"{name} depends on unknown {dep}"
    assert "KAFKA_PROCESS_ROLES" in doc["services"]["kafka"]["environment"]  # KRaft, no ZooKeeper
    assert doc["services"]["opensearch"]["image"].startswith("opensearchproject/opensearch:")
    worker = doc["services"]["logvec"]
    assert (ROOT / "deploy" / Path(worker["build"]["dockerfile"]).name).exists()
    pipeline = worker["command"][worker["command"].index("--pipeline") + 1]
    assert load_pipeline(PIPELINES / Path(pipeline).name).store.type == "opensearch"


def test_kubernetes_manifests():
    docs = [d for f in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "ScaledObject"} <= kinds
    api = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert api["args"][0] == "serve" and api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # it binds 0.0.0.0, so serve starts only with authentication: a token file mounted from a Secret
    env = {e["name"]: e.get("value") for e in api["env"]}
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    mount = next(m for m in api["volumeMounts"] if env["LOGVEC_API_TOKEN_FILE"].startswith(m["mountPath"] + "/"))
    assert "secret" in next(v for v in pod["volumes"] if v["name"] == mount["name"])
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "logvec-api")
    assert service["metadata"]["name"] in env["LOGVEC_API_ALLOWED_HOSTS"].split(",")
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert any(e["name"] == "KAFKA_GROUP_INSTANCE_ID" for e in c["env"])
    assert load_pipeline(PIPELINES / Path(c["args"][c["args"].index("--pipeline") + 1]).name)


def test_dashboard_queries_only_metrics_that_exist():
    from prometheus_client.metrics import MetricWrapperBase

    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    known = {m.name + sfx for obj in vars(metrics).values() if isinstance(obj, MetricWrapperBase)
             for m in obj.describe() for sfx in suffixes[m.type]}
    dash = json.loads((ROOT / "dashboards" / "logvec.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"logvec_[a-z_]+", e)}
    assert used and used <= known, used - known
