"""The worker's metrics count what the run did (the dashboard and the alert rules read them)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from logvec.config import load_pipeline
from logvec.pipeline import Runner
from logvec.sources.files import iter_file_batches
from tests.support import PIPELINES, split_hdfs


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_anomalies_are_counted_by_level_and_by_kind(tmp_path, shared_data):
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
    flagged = 0
    for raw in iter_file_batches([str(paths["test"])], 1000, size):
        flagged += int(runner.process(raw).is_anomaly.sum())
    runner.close()
    by_kind = {k: sample("logvec_anomaly_kinds_total", level="line", kind=k) - before[k] for k in kinds}
    assert flagged > 0 and sample("logvec_anomalies_total", level="line") - before_line == flagged
    assert by_kind["new_template"] > 0 and sum(by_kind.values()) >= flagged, by_kind
