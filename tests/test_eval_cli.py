"""`logvec eval` and session detection in `logvec run`, through the command line."""

import csv
import json

import pytest

from .conftest import PIPELINES, logvec_cli

DEFAULT = PIPELINES / "default.yaml"
BLOCK = r"blk_-?\d+"


@pytest.fixture(scope="module")
def hdfs(shared_data):
    return shared_data / "hdfs_5k"


def eval_json(*args):
    return json.loads(logvec_cli("eval", *args, "--format", "json").stdout)


def test_session_level_json_and_report(hdfs, tmp_path):
    log = hdfs / "HDFS_5k.log"
    r = eval_json("--pipeline", DEFAULT, "--train", log, "--test", log, "--labels", hdfs / "block_labels.csv",
                  "--session-key", BLOCK, "--out", tmp_path)
    for key in ("precision", "recall", "f1", "tp", "fp", "fn", "tn", "level", "threshold", "lines_per_second"):
        assert key in r
    assert r["level"] == "session" and r["tp"] + r["fn"] == 10 and r["tp"] + r["fp"] + r["fn"] + r["tn"] == 110
    assert r["f1"] >= 0.95
    report = (tmp_path / "report.md").read_text()
    assert "Confusion matrix" in report and "Top false positives" in report
    with open(tmp_path / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 110 and all(r["reason"] for r in rows if r["flagged"] == "1")
    png = (tmp_path / "pr_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_line_level(hdfs):
    log = hdfs / "HDFS_5k.log"
    r = eval_json("--pipeline", DEFAULT, "--train", log, "--test", log, "--labels", hdfs / "line_labels.csv")
    assert r["level"] == "line" and r["tp"] + r["fp"] + r["fn"] + r["tn"] == 4519
    assert r["tp"] + r["fn"] == 521


def test_labels_as_words_and_compare(hdfs, tmp_path):
    words = tmp_path / "labels.csv"
    with open(hdfs / "block_labels.csv") as f, open(words, "w") as g:
        rows = list(csv.DictReader(f))
        g.write("key,label\n" + "".join(f"{r['key']},{'Anomaly' if r['label'] == '1' else 'normal'}\n" for r in rows))
    log = hdfs / "HDFS_5k.log"
    docs = eval_json("--compare", DEFAULT, PIPELINES / "onehot.yaml", "--train", log, "--test", log,
                     "--labels", words, "--session-key", BLOCK)
    assert [d["pipeline"] for d in docs] == ["default", "onehot"]
    assert all(d["level"] == "session" and d["tp"] + d["fn"] == 10 for d in docs)
    table = logvec_cli("eval", "--compare", DEFAULT, PIPELINES / "bow.yaml", "--train", log, "--test", log,
                       "--labels", words, "--session-key", BLOCK).stdout.decode()
    assert "default" in table and "bow" in table


def test_session_labels_without_a_session_rule_is_a_clear_error(hdfs):
    log = hdfs / "HDFS_5k.log"
    p = logvec_cli("eval", "--pipeline", DEFAULT, "--train", log, "--test", log, "--labels",
                   hdfs / "block_labels.csv", check=False)
    assert p.returncode == 2 and b"session labels need a session rule" in p.stderr


def test_run_scores_sessions_and_flags_their_records(hdfs, tmp_path):
    pipe = tmp_path / "p.yaml"
    pipe.write_text((DEFAULT.read_text()) + "session:\n  key: '(blk_-?\\d+)'\n  timeout: 1d\n")
    data = tmp_path / "d"
    summary = json.loads(logvec_cli("run", "-p", pipe, "-i", hdfs / "HDFS_5k.log", "-d", data,
                                    "--format", "json").stdout)
    assert summary["sessions"] == 110 and summary["session_anomalies"] >= 10
    rows = json.loads(logvec_cli("sessions", "-p", pipe, "-d", data, "--anomalies", "--format", "json").stdout)
    labels = {r["key"]: r["label"] for r in csv.DictReader(open(hdfs / "block_labels.csv"))}
    assert sum(labels[r["key"]] == "1" for r in rows) == 10
    hits = json.loads(logvec_cli("search", "Unexpected error trying to delete block blk_1", "-p", pipe, "-d", data,
                                 "--anomalies", "--format", "json", "-k", "3").stdout)
    assert hits and all(h["is_anomaly"] and "session blk_" in h["reason"] for h in hits)
