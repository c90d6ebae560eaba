"""The text stages in worker processes: the same records as in the main process, in order, and a worker that
dies or fails costs speed or stops the run with its reason, never lines. Data: Loghub's HDFS_5k and Linux_2k
samples (Zhu et al., ISSRE 2023), with secrets, blank lines and binary junk mixed in."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

import logvec.textstages as textstages
from logvec.config import load_pipeline, parse_pipeline
from logvec.metrics import REDACTIONS
from logvec.pipeline import Runner
from logvec.records import RawBatch
from logvec.sources import IteratorSource, iter_file_batches
from logvec.textstages import TextPool, TextStages, resolve_processes
from tests.support import PIPELINES, raw_batches

SECRET = "password=hunter2-{}"  # what the default `password` detector takes out


@pytest.fixture(scope="module")
def log_file(shared_data, tmp_path_factory):
    """HDFS_5k then Linux_2k, every 97th line carrying a secret, blank lines and a binary line among them."""
    lines = (shared_data / "hdfs_5k" / "HDFS_5k.log").read_text().splitlines()
    lines += (shared_data / "loghub_2k" / "Linux" / "Linux_2k.log").read_text(errors="replace").splitlines()
    lines = [f"{line} {SECRET.format(i)}" if i % 97 == 0 else line for i, line in enumerate(lines)]
    lines[1000:1000] = ["", "   "]
    lines[3000:3000] = ["\x00\x01\x02 not text \x03\x04"]
    path = tmp_path_factory.mktemp("text") / "mixed.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def source(log_file, batch_size: int) -> IteratorSource:
    """The file as `logvec run --input` reads it: in batches, its size known."""
    return IteratorSource(iter_file_batches([str(log_file)], batch_size, 64 * 1024), log_file.stat().st_size)


def stored(data_dir) -> list[tuple]:
    with sqlite3.connect(data_dir / "store" / "records.sqlite") as db:
        return db.execute("SELECT id, ts, service, level, message, template_id, is_anomaly, reason, flags, "
                          "anomaly_kinds FROM records ORDER BY id").fetchall()


def run(tmp_path, log_file, processes: int, batch_size: int = 1000) -> tuple[dict, list[tuple], float]:
    config = load_pipeline(PIPELINES / "default.yaml")
    config.run.text_processes = processes
    config.run.batch_size = batch_size
    config.run.warmup_lines = 2000
    redactions = REDACTIONS.labels("password")._value.get()
    runner = Runner(config, tmp_path / f"p{processes}")
    try:
        summary = runner.run(source(log_file, batch_size))
    finally:
        runner.close()
    counts = summary.to_dict()
    for key in ("seconds", "active_seconds", "active_from", "active_until", "model_at", "stage_seconds",
                "lines_per_second"):
        counts.pop(key)
    return counts, stored(tmp_path / f"p{processes}"), REDACTIONS.labels("password")._value.get() - redactions


@pytest.mark.parametrize("at_once", [True, False])
def test_worker_processes_store_what_the_main_process_stores(tmp_path, log_file, monkeypatch, at_once):
    """Handed over at once (a long file) or after the run's first lines: the same records, verdicts,
    reasons and flags, dead letters, blank lines and secrets counted, as with no worker at all."""
    monkeypatch.setattr(textstages, "POOL_AT_ONCE_BYTES", 0 if at_once else 10**12)
    monkeypatch.setattr(textstages, "POOL_AFTER_LINES", 3000)
    handed: list[int] = []  # the batches the workers did
    real_result = TextPool._result
    monkeypatch.setattr(TextPool, "_result", lambda self, w: handed.append(1) or real_result(self, w))
    inline, inline_rows, inline_secrets = run(tmp_path, log_file, 0)
    assert not handed
    pooled, pooled_rows, pooled_secrets = run(tmp_path, log_file, 2)
    lines = log_file.read_bytes().count(b"\n")
    # at once: every batch (the main process reads the first, which fits the model, and hands it on); else
    # those after the first 3,000 lines
    assert len(handed) == (-(-lines // 1000) if at_once else -(-lines // 1000) - 3)
    assert pooled == inline
    assert pooled_rows == inline_rows
    assert pooled_secrets == inline_secrets > 0
    assert (inline["blank"], inline["dead_letters"], inline["records"]) == (2, 1, lines - 3)
    assert not any("hunter2" in row[4] for row in pooled_rows)


def batches(shared_data) -> list[RawBatch]:
    lines = (shared_data / "hdfs_5k" / "HDFS_5k.log").read_text().splitlines()
    return raw_batches(lines, "hdfs", size=500)


def test_results_come_back_in_order_and_equal_the_main_process_ones(shared_data):
    config = load_pipeline(PIPELINES / "default.yaml")
    here = TextStages(config)
    pool = TextPool(config, 3)
    try:
        got = list(pool.map(iter(batches(shared_data))))
    finally:
        pool.close()
    assert [raw.origins[0] for raw, _ in got] == [b.origins[0] for b in batches(shared_data)]
    for raw, result in got:
        expected = here.apply(raw)
        assert result is not None and result.records.ids == expected.records.ids
        assert result.records.masked == expected.records.masked
        assert result.records.timestamps.tolist() == expected.records.timestamps.tolist()


def test_a_worker_that_dies_hands_its_batches_back_to_the_main_process(shared_data, caplog):
    config = load_pipeline(PIPELINES / "default.yaml")
    pool = TextPool(config, 2)
    out = []
    try:
        for raw, result in pool.map(iter(batches(shared_data))):
            out.append((raw, result))
            if len(out) == 2:
                os.kill(pool._workers[0].pid, signal.SIGKILL)
    finally:
        pool.close()
    assert [raw.origins[0] for raw, _ in out] == [b.origins[0] for b in batches(shared_data)]  # none lost
    assert all(result is not None for _, result in out[:2])
    assert any(result is None for _, result in out[2:])  # done in the main process from the break on
    assert pool.broken and "worker" in pool.broken
    assert "given up" in caplog.text


def test_a_batch_the_stages_fail_on_stops_the_run_with_the_workers_traceback():
    config = load_pipeline(PIPELINES / "default.yaml")
    pool = TextPool(config, 1)
    try:
        with pytest.raises(RuntimeError, match=r"(?s)text stages failed in worker \d+:\nTraceback.*TypeError"):
            list(pool.map(iter([RawBatch([1, 2], ["x:1", "x:2"])])))  # type: ignore[list-item]  # not text
    finally:
        pool.close()


def test_auto_is_a_worker_a_core_for_files_and_none_for_kafka(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert resolve_processes(parse_pipeline({})) == textstages.AUTO_MAX_PROCESSES
    assert resolve_processes(parse_pipeline({"source": {"type": "kafka", "topics": ["logs"]}})) == 0
    assert resolve_processes(parse_pipeline({"run": {"text_processes": 3}})) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert resolve_processes(parse_pipeline({})) == 0


def test_a_run_stopped_midway_lets_its_workers_go_without_killing_them(tmp_path, log_file, monkeypatch, caplog):
    """A stop (SIGTERM) while workers hold batches: the run stores a prefix, and each worker ends on the end
    of its pipes — none is left waiting to write a result nobody reads, to be killed; nothing is "given up"."""
    monkeypatch.setattr(textstages, "POOL_AT_ONCE_BYTES", 0)
    ended = []
    real_close = TextPool.close

    def close(self):
        workers = list(self._workers)
        real_close(self)
        ended.extend(w.returncode for w in workers)

    monkeypatch.setattr(TextPool, "close", close)
    config = load_pipeline(PIPELINES / "default.yaml")
    config.run.text_processes, config.run.batch_size, config.run.warmup_lines = 2, 300, 2000
    runner = Runner(config, tmp_path / "d")
    asked = []
    try:
        summary = runner.run(source(log_file, 300), should_stop=lambda: asked.append(1) or len(asked) > 10)
    finally:
        runner.close()
    assert 0 < summary.records < log_file.read_bytes().count(b"\n") - 3
    assert len(stored(tmp_path / "d")) == summary.records
    assert ended == [0, 0]
    assert "given up" not in caplog.text
