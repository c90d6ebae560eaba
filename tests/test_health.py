"""Worker probes: /healthz fails when the loop stops moving, /readyz once a model is there and batches flow."""

import json
import threading
import urllib.error
import urllib.request

from logvec.config import load_pipeline
from logvec.health import Health, serve
from logvec.pipeline import Runner
from logvec.records import RawBatch

from tests.support import PIPELINES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read().decode(), e.code
    return status, json.loads(body) if body.startswith("{") else body


def test_liveness_fails_only_after_the_stall_timeout():
    clock = Clock()
    health = Health(stall_timeout_s=60, clock=clock)
    clock.now += 59
    assert health.live
    clock.now += 2
    assert not health.live
    health.beat()
    assert health.live and health.since_beat() == 0


def test_probe_endpoints_over_http():
    clock = Clock()
    health = Health(stall_timeout_s=30, clock=clock)
    server = serve(0, health, addr="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert get(f"{base}/readyz") == (503, {"status": "starting"})
        assert get(f"{base}/healthz")[0] == 200
        health.set_ready()
        assert get(f"{base}/readyz") == (200, {"status": "ready"})
        clock.now += 31
        status, body = get(f"{base}/healthz")
        assert status == 503 and body["status"] == "stalled" and body["seconds_since_progress"] == 31
        status, text = get(f"{base}/metrics")
        assert status == 200 and "logvec_records_processed_total" in text
    finally:
        server.shutdown()


def test_runner_beats_while_batches_flow_and_stops_when_they_do_not(tmp_path, hdfs_log):
    """The runner marks itself ready once it has a model and beats on every batch; a loop stuck on its
    source stops beating, and liveness turns once the timeout passes."""
    clock = Clock()
    probe = Health(stall_timeout_s=30, clock=clock)
    lines = hdfs_log.read_text().splitlines()
    gate, seen = threading.Event(), threading.Event()

    def source():
        yield RawBatch(lines[:2000], [f"h:{i}" for i in range(2000)])
        seen.set()
        gate.wait(30)  # the source hangs here (a broker that never answers)

    config = load_pipeline(PIPELINES / "default.yaml")
    config.run.warmup_lines = 1000  # fit on the first batch
    runner = Runner(config, tmp_path, health=probe)
    t = threading.Thread(target=runner.run, args=(source(),), daemon=True)
    assert not probe.ready
    t.start()
    try:
        assert seen.wait(60)
        assert probe.ready and probe.live
        clock.now += 31
        assert not probe.live  # nothing moved for longer than the timeout
    finally:
        gate.set()
        t.join(60)
        runner.close()
    assert runner.summary.records == 2000
