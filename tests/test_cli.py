"""End to end through the `logvec` command, as an SRE would use it."""

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import PIPELINES, logvec_cli
from logvec.testing import wait_until
from logvec.testing.servers import free_port
from logvec.testing.store import stored_ids

DEFAULT = PIPELINES / "default.yaml"


@pytest.fixture(scope="module")
def hdfs_run(tmp_path_factory, hdfs_log):
    data = tmp_path_factory.mktemp("hdfs")
    proc = logvec_cli("run", "--pipeline", DEFAULT, "--input", hdfs_log, "--data-dir", data, "--format", "json")
    return data, json.loads(proc.stdout)


def search(data, query, *extra):
    proc = logvec_cli("search", query, "--pipeline", DEFAULT, "--data-dir", data, "--format", "json", *extra)
    return json.loads(proc.stdout)


def test_run_summary_counts_every_line(hdfs_run, hdfs_log):
    data, summary = hdfs_run
    n = len(hdfs_log.read_text().splitlines())
    assert summary["lines"] == summary["records"] == n
    assert summary["fitted"] and summary["dead_letters"] == 0 and summary["lines_per_second"] > 0
    stats = json.loads(logvec_cli("stats", "--pipeline", DEFAULT, "--data-dir", data, "--format", "json").stdout)
    assert stats["records"] == n
    assert stats["templates"] == summary["templates"] > 10
    assert stats["anomalies"] == summary["anomalies"]


@pytest.mark.parametrize("line_no", [1, 250, 4000])
def test_search_finds_the_line_first_then_its_template(hdfs_run, hdfs_log, line_no):
    data, _ = hdfs_run
    lines = hdfs_log.read_text().splitlines()
    hits = search(data, lines[line_no - 1], "-k", "10")
    assert hits[0]["id"] == f"{hdfs_log.resolve()}:{line_no}"
    assert hits[0]["message"] in lines[line_no - 1] and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert {"id", "score", "message", "template", "timestamp", "service"} <= set(hits[0])
    first_template = hits[0]["template"]
    assert all(h["template"] == first_template for h in hits[1:5])
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_filters(hdfs_run, hdfs_log):
    data, _ = hdfs_run
    q = "PacketResponder 1 for block blk_38865049064139660 terminating"
    hits = search(data, q, "--service", "dfs.FSNamesystem", "-k", "5")
    assert hits and {h["service"] for h in hits} == {"dfs.FSNamesystem"}
    hits = search(data, "Verification succeeded for blk_1", "--since", "2008-11-09T20:40:00", "--until",
                  "2008-11-09T20:45:00", "-k", "50")
    assert hits and all("2008-11-09T20:40:00Z" <= h["timestamp"] <= "2008-11-09T20:45:00Z" for h in hits)


def test_running_the_same_input_twice_stores_it_once(hdfs_run, hdfs_log, tmp_path):
    data, summary = hdfs_run
    again = json.loads(logvec_cli("run", "--pipeline", DEFAULT, "--input", hdfs_log, "--data-dir", data,
                                  "--format", "json").stdout)
    assert not again["fitted"]  # the saved model was loaded
    stats = json.loads(logvec_cli("stats", "--pipeline", DEFAULT, "--data-dir", data, "--format", "json").stdout)
    assert stats["records"] == summary["records"]


def test_table_output_is_readable(hdfs_run, hdfs_log):
    data, _ = hdfs_run
    line = hdfs_log.read_text().splitlines()[0]
    out = logvec_cli("search", line, "--pipeline", DEFAULT, "--data-dir", data, "-k", "3").stdout.decode()
    assert "3 hits" in out and "1.000" in out


def test_bad_input_is_defined_and_nothing_is_lost(tmp_path):
    log = tmp_path / "bad.log"
    lines = [
        b"2026-11-01T00:00:00.000Z INFO api: request ok in 12ms",
        b"\x00\x01\x02\x03\x04 binary junk \x05\x06",
        b"2026-11-01T00:00:01.000Z INFO api: caf\xe9 invalid utf-8",
        b"2026-11-01T00:00:02.000Z INFO api: " + b"x" * (1 << 20),
        b"",
        b"no header at all",
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    data = tmp_path / "data"
    summary = json.loads(logvec_cli("run", "-p", DEFAULT, "-i", log, "-d", data, "--format", "json").stdout)
    assert summary["lines"] == 6 and summary["blank"] == 1
    assert summary["records"] == 4 and summary["dead_letters"] == 1
    dead = [json.loads(x) for x in (data / "dead-letters.jsonl").read_text().splitlines()]
    assert dead[0]["origin"].endswith(":2") and dead[0]["reason"].startswith("binary data")
    flags = {h["id"].rsplit(":", 1)[1]: h["flags"] for q in ("caf invalid utf-8", "x" * 200, "no header at all")
             for h in search(data, q, "-k", "3")}
    assert flags["3"] == "decode_error" and flags["4"] == "truncated" and flags["6"] == "unparsed"


def test_empty_input(tmp_path):
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    summary = json.loads(logvec_cli("run", "-p", DEFAULT, "-i", log, "-d", tmp_path / "d", "--format", "json").stdout)
    assert summary["lines"] == 0 and summary["records"] == 0


def test_stdin_and_gzip_inputs(tmp_path, hdfs_log):
    text = "\n".join(hdfs_log.read_text().splitlines()[:300]) + "\n"
    s1 = json.loads(logvec_cli("run", "-p", DEFAULT, "-i", "-", "-d", tmp_path / "a", "--format", "json",
                               input=text.encode()).stdout)
    gz = tmp_path / "part.log.gz"
    with gzip.open(gz, "wt") as f:
        f.write(text)
    s2 = json.loads(logvec_cli("run", "-p", DEFAULT, "-i", gz, "-d", tmp_path / "b", "--format", "json").stdout)
    assert s1["records"] == s2["records"] == 300


def test_follow_reads_a_growing_file(tmp_path, hdfs_log):
    lines = hdfs_log.read_text().splitlines()[:600]
    log, data = tmp_path / "grow.log", tmp_path / "d"
    log.write_text("\n".join(lines[:200]) + "\n")
    exe = Path(sys.executable).parent / "logvec"
    proc = subprocess.Popen([exe, "run", "-p", DEFAULT, "-i", log, "-d", data, "--follow", "--exit-when-idle", "3",
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: len(stored_ids(data)) == 200, every=0.05)  # it has read to the end and is following
        with log.open("a") as f:
            f.write("\n".join(lines[200:]) + "\n")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["records"] == 600 and len(stored_ids(data)) == 600


def test_sigterm_finishes_cleanly(tmp_path, hdfs_log):
    log = tmp_path / "grow.log"
    log.write_text(hdfs_log.read_text())
    exe = Path(sys.executable).parent / "logvec"
    proc = subprocess.Popen([exe, "run", "-p", DEFAULT, "-i", log, "-d", tmp_path / "d", "--follow",
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    n = len(hdfs_log.read_text().splitlines())
    try:
        wait_until(lambda: len(stored_ids(tmp_path / "d")) == n, every=0.05)  # all read: it is following the file now
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["records"] == n


def test_sigterm_while_waiting_for_sibling_workers_exits_at_once(tmp_path, hdfs_log):
    """A `--workers` worker waits for its siblings before reading; a stop request ends the wait (Kubernetes
    gives a pod 30 s before SIGKILL, the barrier waits up to 60 s): exit 0, nothing read."""
    from logvec.workers import new_barrier

    data = tmp_path / "d"
    logvec_cli("fit", "-p", DEFAULT, "-i", hdfs_log, "-d", data)
    barrier = new_barrier(2, tmp_path)  # the sibling never comes
    exe = Path(sys.executable).parent / "logvec"
    proc = subprocess.Popen([exe, "run", "-p", DEFAULT, "-i", hdfs_log, "-d", data, "--format", "json",
                             "--worker-index", "0", "--worker-barrier", barrier],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (barrier / "ready-0").exists() and time.time() < deadline:
            time.sleep(0.1)
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["lines"] == summary["records"] == 0, summary


def test_validate(tmp_path):
    assert b"ok" in logvec_cli("validate", DEFAULT).stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("vectorizer:\n  type: tfidf\n  max_featres: 3\n")
    proc = logvec_cli("validate", bad, check=False)
    assert proc.returncode == 2
    assert b"vectorizer.max_featres: unknown key" in proc.stderr
    old = tmp_path / "old.yaml"
    old.write_text("extends: " + str(DEFAULT) + "\nparse:\n  max_line_bytes: 1000\n")
    proc = logvec_cli("validate", old)
    assert proc.stderr.decode().splitlines() == [
        f"warning: {old}: parse.max_line_bytes is deprecated; write parse.max_line_size: 1000"]


def test_fit_publishes_versions_and_run_uses_the_active_one(tmp_path, hdfs_log):
    data = tmp_path / "d"
    out = logvec_cli("fit", "-p", DEFAULT, "-i", hdfs_log, "-d", data).stdout.decode()
    assert "model version 1 (" in out and "and active" in out, out
    summary = json.loads(logvec_cli("run", "-p", DEFAULT, "-i", hdfs_log, "-d", data, "--format", "json").stdout)
    assert not summary["fitted"]
    first = json.loads(logvec_cli("model", "show", "-p", DEFAULT, "-d", data).stdout)
    stats = json.loads(logvec_cli("stats", "-p", DEFAULT, "-d", data, "--format", "json").stdout)
    assert stats["model_id"] == stats["model"]["model_id"] == first["model_id"]
    assert stats["records"] == summary["records"] > 0

    # a refit on other lines is a second version, published but not active: the fleet keeps the first
    half = tmp_path / "half.log"
    half.write_bytes(b"".join(hdfs_log.read_bytes().splitlines(keepends=True)[:1500]))
    out = logvec_cli("fit", "-p", DEFAULT, "-i", half, "-d", data).stdout.decode()
    assert "model version 2 (" in out and "not active" in out, out
    versions = json.loads(logvec_cli("model", "list", "-p", DEFAULT, "-d", data, "--format", "json").stdout)
    assert [(v["version"], v["active"]) for v in versions] == [(1, True), (2, False)]
    assert versions[0]["model_id"] != versions[1]["model_id"]
    # the embedded store holds version 1's vectors: version 2's would not compare with them
    proc = logvec_cli("model", "activate", "2", "-p", DEFAULT, "-d", data, check=False)
    assert proc.returncode == 2 and b"vectorized by model " + first["model_id"].encode() in proc.stderr
    assert json.loads(logvec_cli("model", "show", "-p", DEFAULT, "-d", data).stdout)["version"] == 1
    hits = json.loads(logvec_cli("search", "Receiving block", "-p", DEFAULT, "-d", data, "--format", "json").stdout)
    assert hits and {h["model_id"] for h in hits} == {first["model_id"]}
    # nor is a query vectorized by version 2 compared with version 1's vectors
    proc = logvec_cli("search", "Receiving block", "-p", DEFAULT, "-d", data, "--model-version", "2", check=False)
    assert proc.returncode == 2 and b"holds vectors of model " + first["model_id"].encode() in proc.stderr


def test_model_from_another_pipeline_is_refused(tmp_path, hdfs_log):
    data = tmp_path / "d"
    logvec_cli("fit", "-p", DEFAULT, "-i", hdfs_log, "-d", data)
    proc = logvec_cli("run", "-p", PIPELINES / "onehot.yaml", "-i", hdfs_log, "-d", data, check=False)
    assert proc.returncode == 2 and b"fitted with another pipeline configuration" in proc.stderr


def test_search_without_data_is_a_clear_error(tmp_path):
    proc = logvec_cli("search", "x", "-p", DEFAULT, "-d", tmp_path / "none", check=False)
    assert proc.returncode == 2 and b"no model" in proc.stderr


def test_missing_input_is_a_clear_error(tmp_path):
    proc = logvec_cli("run", "-p", DEFAULT, "-i", tmp_path / "nope.log", "-d", tmp_path / "d", check=False)
    assert proc.returncode == 2 and b"input not found" in proc.stderr


def test_an_unreachable_kafka_is_one_clear_error_after_retries(tmp_path):
    """Nothing listens at the bootstrap address: kafka-python retries (30 s), then the run fails with exit 1
    and a message naming the servers, not a traceback."""
    address = f"127.0.0.1:{free_port()}"
    proc = logvec_cli("run", "-p", PIPELINES / "kafka.yaml", "-d", tmp_path / "d", "--exit-when-idle", "3",
                      check=False, env={"KAFKA_BOOTSTRAP": address}, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err[-2000:]
    assert f"no broker answered at {address}" in err and "Traceback" not in err


@pytest.mark.parametrize("case", ["unknown key", "no such input", "unknown flag", "empty baseline", "damaged store"])
def test_exit_codes_are_as_documented(tmp_path, hdfs_log, case):
    """docs/security.md: 2 for usage and configuration, 1 for a runtime failure."""
    default = PIPELINES / "default.yaml"
    if case == "damaged store":
        logvec_cli("run", "-p", default, "-i", hdfs_log, "-d", tmp_path / "d")
        (tmp_path / "d" / "store" / "meta.json").unlink()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {default}\nparse:\n  typo: 1\n")
    (tmp_path / "empty.log").write_text("")
    argv, code = {
        "unknown key": (("validate", bad), 2),
        "no such input": (("run", "-p", default, "-i", tmp_path / "nope.log", "-d", tmp_path / "d"), 2),
        "unknown flag": (("search", "x", "--no-such-flag"), 2),
        "empty baseline": (("fit", "-p", default, "-i", tmp_path / "empty.log", "-d", tmp_path / "d"), 2),
        "damaged store": (("search", "x", "-p", default, "-d", tmp_path / "d"), 1),
    }[case]
    r = logvec_cli(*argv, check=False)
    assert r.returncode == code, r.stderr.decode()[-500:]
    assert b"Traceback" not in r.stderr
