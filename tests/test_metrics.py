"""The worker's metrics count what the run did (the dashboard and the alert rules read them)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from logvec import metrics
from logvec.config import load_pipeline
from logvec.pipeline import Runner
from logvec.sources.files import iter_file_batches
from tests.support import PIPELINES, split_hdfs


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_anomalies_are_counted_by_level_and_by_kind(tmp_path, shared_data, monkeypatch):
    """Fitted on earlier normal HDFS blocks, run on later ones: every flagged record is counted under `line`, and
    under each of its kinds; the kinds add up to at least the records (a record may have two)."""
    paths = split_hdfs(shared_data / "hdfs_5k", tmp_path)
    config = load_pipeline(PIPELINES / "default.yaml")
    runner = Runner(config, tmp_path / "d", load_model=False)
    size = config.parse.max_line_size
    runner.fit(list(iter_file_batches([str(paths["train"])], 1000, size)))
    kinds = ("new_template", "rare_template", "severity", "distance", "rate")
    before_line = sample("logvec_anomalies_total", level="line")
    before = {k: sample("logvec_anomaly_kinds_total", level="line", kind=k) for k in kinds}
    # a process labels the first services it meets: the suite's other tests (fuzzed names) must not use them up
    monkeypatch.setattr(metrics.SERVICE_LABELS, "seen", set())
    services = sorted({line.split()[4].rstrip(":") for line in paths["test"].read_text().splitlines()})
    before_service = {s: sample("logvec_anomalies_by_service_total", service=s) for s in services}
    flagged = 0
    flagged_by_service = dict.fromkeys(services, 0.0)
    for raw in iter_file_batches([str(paths["test"])], 1000, size):
        records = runner.process(raw)
        flagged += int(records.is_anomaly.sum())
        for service, anomalous in zip(records.services, records.is_anomaly.tolist()):
            flagged_by_service[service] += anomalous
    runner.close()
    by_kind = {k: sample("logvec_anomaly_kinds_total", level="line", kind=k) - before[k] for k in kinds}
    assert flagged > 0 and sample("logvec_anomalies_total", level="line") - before_line == flagged
    assert by_kind["new_template"] > 0 and sum(by_kind.values()) >= flagged, by_kind
    # and by service (HDFS's are its Java classes): each flagged record under its own
    by_service = {s: sample("logvec_anomalies_by_service_total", service=s) - before_service[s] for s in services}
    assert sum(by_service.values()) == flagged and by_service == flagged_by_service, by_service


def test_service_labels_are_bounded():
    """Service names come from the logs: past the limit they count as `other`, so a log cannot grow the series."""
    from logvec.metrics import BoundedLabels

    labels = BoundedLabels(3)
    assert [labels(s) for s in ["a", "b", "a", "c", "d", "b", "e"]] == ["a", "b", "a", "c", "other", "b", "other"]
