"""`logvec eval` and session detection in `logvec run`, through the command line."""

import csv
import json

import pytest

from tests.support import PIPELINES, logvec_cli, split_hdfs

DEFAULT = PIPELINES / "default.yaml"
BLOCK = r"blk_-?\d+"


@pytest.fixture(scope="module")
def hdfs(shared_data):
    return shared_data / "hdfs_5k"


@pytest.fixture(scope="module")
def split(hdfs, tmp_path_factory):
    """Fitted on the earlier blocks (normal ones), scored on the later ones."""
    return split_hdfs(hdfs, tmp_path_factory.mktemp("split"))


def eval_json(*args):
    return json.loads(logvec_cli("eval", *args, "--format", "json").stdout)


def read_scores(out) -> list[dict]:
    with open(out / "scores.csv") as f:
        return list(csv.DictReader(f))


def assert_counts_match_the_scores(r: dict, rows: list[dict], labels: dict[str, int]) -> None:
    """The JSON's confusion matrix and F1, recomputed from the per-item scores and the label file."""
    assert {row[next(iter(row))] for row in rows} <= set(labels)
    flagged = [row["flagged"] == "1" for row in rows]
    truth = [labels[row[next(iter(row))]] == 1 for row in rows]
    assert all(f == (float(row["score"]) >= r["threshold"]) for f, row in zip(flagged, rows))
    tp = sum(f and t for f, t in zip(flagged, truth))
    fp = sum(f and not t for f, t in zip(flagged, truth))
    fn = sum(t and not f for f, t in zip(flagged, truth))
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (tp, fp, fn, len(rows) - tp - fp - fn)
    assert r["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-3)


def labels_of(path) -> dict[str, int]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    column = "key" if "key" in rows[0] else "line"
    return {r[column]: int(r["label"]) for r in rows}


def test_session_level_json_and_report_on_held_out_blocks(split, tmp_path):
    r = eval_json("--pipeline", DEFAULT, "--train", split["train"], "--test", split["test"],
                  "--labels", split["blocks"], "--session-key", BLOCK, "--out", tmp_path)
    rows = read_scores(tmp_path)
    labels = labels_of(split["blocks"])
    assert r["level"] == "session" and r["tp"] + r["fn"] == sum(labels.values())
    assert_counts_match_the_scores(r, rows, labels)
    assert r["f1"] >= 0.9, r  # held out: every anomalous block found, no normal one flagged (BENCHMARKS.md)
    report = (tmp_path / "report.md").read_text()
    assert f"| **anomaly** | {r['tp']} (TP) | {r['fn']} (FN) |" in report
    assert f"| **normal** | {r['fp']} (FP) | {r['tn']} (TN) |" in report
    assert all(row["reason"] for row in rows if row["flagged"] == "1")
    png = (tmp_path / "pr_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_line_level_on_held_out_lines(split, tmp_path):
    """HDFS labels whole blocks: most lines of an anomalous block are ordinary, so few lines can be found,
    but the ones flagged must be right."""
    r = eval_json("--pipeline", DEFAULT, "--train", split["train"], "--test", split["test"],
                  "--labels", split["lines"], "--out", tmp_path)
    assert r["level"] == "line"
    assert_counts_match_the_scores(r, read_scores(tmp_path), labels_of(split["lines"]))
    assert r["tp"] >= 5 and r["precision"] >= 0.9, r


def test_labels_as_words_read_as_numbers_and_compare(split, tmp_path):
    words = tmp_path / "labels.csv"
    labels = labels_of(split["blocks"])
    words.write_text("key,label\n" + "".join(f"{k},{'Anomaly' if y else 'normal'}\n" for k, y in labels.items()))
    common = ("--train", split["train"], "--test", split["test"], "--session-key", BLOCK)
    numbers = eval_json("--pipeline", DEFAULT, *common, "--labels", split["blocks"])
    docs = eval_json("--compare", DEFAULT, PIPELINES / "onehot.yaml", *common, "--labels", words)
    assert [d["pipeline"] for d in docs] == ["default", "onehot"]
    confusion = ("tp", "fp", "fn", "tn")
    assert [docs[0][k] for k in confusion] == [numbers[k] for k in confusion]
    assert all(d["level"] == "session" and d["tp"] >= 5 and d["fp"] <= 1 for d in docs), docs
    table = logvec_cli("eval", "--compare", DEFAULT, PIPELINES / "bow.yaml", *common,
                       "--labels", words).stdout.decode()
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
