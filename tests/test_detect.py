"""Detectors on logs with known anomalies of each kind, contaminated baselines, and explanations."""

import csv
from pathlib import Path

import numpy as np
import pytest

from logvec.config import ThresholdConfig, parse_pipeline
from logvec.detect import IsolationForestDetector, KnnDetector, NoveltyDetector, PcaDetector, Sample
from logvec.detect.calibrate import calibrate, weighted_quantile
from logvec.evaluate import evaluate, read_labels
from logvec.vectorize import Vectors

from .synthetic import session_logs, line_logs


def write_case(tmp: Path, lines: list[str], labels, name: str = "case"):
    log = tmp / f"{name}.log"
    log.write_text("\n".join(lines) + "\n")
    lab = tmp / f"{name}.csv"
    with open(lab, "w", newline="") as f:
        w = csv.writer(f)
        if isinstance(labels, dict):
            w.writerow(["key", "label"])
            w.writerows(labels.items())
        else:
            w.writerow(["line", "label"])
            w.writerows((i + 1, y) for i, y in enumerate(labels))
    return log, lab


def run_eval(tmp, train_lines, test_lines, labels, pipeline: dict, session_key=None):
    train, _ = write_case(tmp, train_lines, [0] * len(train_lines), "train")
    test, lab = write_case(tmp, test_lines, labels, "test")
    return evaluate(parse_pipeline({"parse": {"type": "plain"}, **pipeline}), [str(train)], [str(test)], str(lab),
                    session_key=session_key)


def assert_explained(result):
    s = result.scored
    for flagged, reason in zip(s.flagged.tolist(), s.reasons):
        assert bool(reason) == flagged, "every flagged item, and only those, carries a reason"
    for reason in (r for f, r in zip(s.flagged, s.reasons) if f):
        assert "nearest normal:" in reason


# ---------------------------------------------------------------- line level
def test_new_error_templates_are_found_with_a_contaminated_baseline(tmp_path):
    train, _ = line_logs(5000, seed=1, anomalies=3)  # the baseline already holds a few anomalies
    test, labels = line_logs(3000, seed=2, anomalies=30)
    r = run_eval(tmp_path, train, test, labels, {"detector": {"type": "novelty", "rare_fraction": 0.002}})
    assert r.recall == 1.0 and r.precision >= 0.95, r.to_dict()
    assert_explained(r)
    reason = next(x for x, y in zip(r.scored.reasons, r.scored.labels) if y)
    assert reason.startswith(("new template", "rare template")) and "template '" in reason


def test_rare_known_template_is_flagged(tmp_path):
    rare = "replica {n} lagging behind primary by {ms}ms"
    train, _ = line_logs(20000, seed=3, rare_known=rare, rare_every=10000)  # seen twice in the baseline
    test, labels = line_logs(4000, seed=4, rare_known=rare, rare_every=1000)
    r = run_eval(tmp_path, train, test, labels, {"detector": {"type": "novelty", "rare_fraction": 0.001}})
    assert (r.tp, r.fp) == (4, 0)
    assert all("rare template" in x for x, f in zip(r.scored.reasons, r.scored.flagged) if f)


@pytest.mark.parametrize("kind,f1", [("knn", 0.9), ("lof", 0.9), ("pca", 0.0)])
def test_outlier_detectors_rank_new_errors_first(tmp_path, kind, f1):
    """All three rank the new errors above every normal line; knn and lof also threshold them right.
    PCA's squared errors pile up at zero for the common shapes, so its robust threshold lands among the rare
    normal shapes (measured: F1 0.0 here with default k); use it ranked or in an ensemble."""
    train, _ = line_logs(4000, seed=5, anomalies=2)
    test, labels = line_logs(2000, seed=6, anomalies=10)
    r = run_eval(tmp_path, train, test, labels, {"detector": {"type": kind}})
    assert r.average_precision >= 0.99 and r.f1 >= f1, r.to_dict()
    assert_explained(r)


def test_ensemble_max_unions_members(tmp_path):
    train, _ = line_logs(4000, seed=7, anomalies=2)
    test, labels = line_logs(2000, seed=8, anomalies=10)
    ens = {"type": "ensemble", "members": [{"type": "novelty", "rare_fraction": 0.002}, {"type": "knn"}]}
    r = run_eval(tmp_path, train, test, labels, {"detector": ens})
    assert r.recall == 1.0 and r.precision >= 0.9 and r.threshold == 1.0
    assert_explained(r)
    rank = {"type": "ensemble", "combine": "mean_rank", "members": ens["members"]}
    r2 = run_eval(tmp_path, train, test, labels, {"detector": rank})
    assert r2.average_precision >= 0.9


# ---------------------------------------------------------------- session level
SESSION_KEY = r"session (s\d+)"


@pytest.mark.parametrize("kind,evidence", [
    ("missing", "missing step"),
    ("swapped", "unusual sequence"),
    ("wrong_place", "unusual sequence"),
    ("new_error", "new template"),
])
def test_session_anomalies_of_each_kind(tmp_path, kind, evidence):
    train, _ = session_logs(400, seed=10)
    test, labels = session_logs(200, seed=11, broken={kind: 5})
    r = run_eval(tmp_path, train, test, labels, {}, session_key=SESSION_KEY)
    assert r.level == "session" and (r.tp, r.fp, r.fn) == (5, 0, 0), r.to_dict()
    assert_explained(r)
    assert all(evidence in x for x, f in zip(r.scored.reasons, r.scored.flagged) if f)


@pytest.mark.parametrize("kind", ["knn", "lof"])
def test_session_counts_need_a_vector_detector(tmp_path, kind):
    """A known step repeated 60 times: no new template, no order broken; only the counts say it."""
    train, _ = session_logs(400, seed=12)
    test, labels = session_logs(200, seed=13, broken={"many": 5})
    novelty_only = {"key": SESSION_KEY, "detector": {"type": "novelty", "rare_fraction": 0.05}}
    assert run_eval(tmp_path, train, test, labels, {"session": novelty_only}).tp == 0
    assert run_eval(tmp_path, train, test, labels, {}, session_key=SESSION_KEY).tp == 5  # the default has knn
    r = run_eval(tmp_path, train, test, labels, {"session": {"key": SESSION_KEY, "detector": {"type": kind}}})
    assert (r.tp, r.fn) == (5, 0) and r.fp <= 2, r.to_dict()
    assert_explained(r)


def test_order_invariants_survive_a_contaminated_baseline(tmp_path):
    train, _ = session_logs(1000, seed=14, broken={"swapped": 2})  # 0.2% of the baseline is broken
    test, labels = session_logs(200, seed=15, broken={"swapped": 4})
    r = run_eval(tmp_path, train, test, labels, {}, session_key=SESSION_KEY)
    assert (r.tp, r.fp, r.fn) == (4, 0, 0), r.to_dict()


def test_hdfs_block_level_f1(shared_data):
    """The issue's goal, unsupervised, TRAIN = TEST; measured 0.952 (10 TP, 1 FP: a normal block whose
    replication templates occur in no other block)."""
    h = shared_data / "hdfs_5k"
    from .conftest import PIPELINES
    from logvec.config import load_pipeline

    r = evaluate(load_pipeline(PIPELINES / "default.yaml"), [str(h / "HDFS_5k.log")], [str(h / "HDFS_5k.log")],
                 str(h / "block_labels.csv"), session_key=r"blk_-?\d+")
    assert r.level == "session" and r.f1 >= 0.95, r.to_dict()
    assert_explained(r)


# ---------------------------------------------------------------- units
def test_robust_threshold_ignores_a_few_extreme_baseline_scores():
    rng = np.random.default_rng(0)
    clean = rng.normal(1.0, 0.1, 1000)
    dirty = np.concatenate([clean, np.full(20, 50.0)])  # 2% contamination, far out
    t_clean, _ = calibrate(clean, None, ThresholdConfig())
    t_dirty, _ = calibrate(dirty, None, ThresholdConfig())
    q_dirty, _ = calibrate(dirty, None, ThresholdConfig(method="quantile", quantile=0.99))
    assert abs(t_dirty - t_clean) < 0.05 and q_dirty > 10  # the quantile is dragged, the robust one is not
    c, _ = calibrate(clean, None, ThresholdConfig(method="contamination", contamination=0.1))
    assert np.mean(clean >= c) == pytest.approx(0.1, abs=0.01)


def test_weighted_quantile_counts_repeats():
    assert weighted_quantile(np.array([1.0, 10.0]), np.array([99.0, 1.0]), 0.5) == pytest.approx(1.0)


def _sample(X, names=None):
    X = np.asarray(X, dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    n = len(X)
    return Sample(Vectors.from_dense(X), [np.array([0])] * n, names or [f"item{i}" for i in range(n)],
                  [f"f{j}" for j in range(X.shape[1])], lambda t: f"t{t}")


def test_knn_counts_repeats_and_excludes_itself():
    base = _sample([[1, 0, 0]] * 50 + [[0, 1, 0]] * 50 + [[0, 0, 1]])
    det = KnnDetector(k=5).fit(base)
    scores = det.score(_sample([[1, 0, 0], [0, 0, 1], [0.7, 0.7, 0.1]]))
    assert scores[0] == pytest.approx(0.0, abs=1e-6)
    assert scores[1] > scores[2] > scores[0]
    # the baseline's one-off [0,0,1] scored against the rest (not itself) sets the threshold at distance 1
    assert det.threshold_ == pytest.approx(1.0)
    assert det.detect(_sample([[-1, -1, -1]])).is_anomaly.tolist() == [True]
    assert det.detect(_sample([[1, 0.05, 0]])).is_anomaly.tolist() == [False]


def test_isolation_forest_on_continuous_features():
    rng = np.random.default_rng(3)
    base = _sample(np.column_stack([rng.normal(5, 0.3, 500), rng.normal(5, 0.3, 500), rng.normal(1, 0.3, 500)]))
    det = IsolationForestDetector().fit(base)
    d = det.detect(_sample([[5, 5, 1], [1, 5, 9]]))
    assert d.is_anomaly.tolist() == [False, True]
    assert "nearest normal:" in d.reasons[1]


def test_pca_explains_by_feature_names():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(1, 0.05, 300), rng.normal(1, 0.05, 300), np.zeros(300) + 1e-3])
    det = PcaDetector(variance=0.9).fit(_sample(X))
    d = det.detect(_sample([[1, 1, 3]]))
    assert d.is_anomaly[0] and "+f2" in d.reasons[0]


def test_novelty_tiny_baseline_flags_only_unseen():
    det = NoveltyDetector(rare_fraction=0.01).fit(_sample([[1, 0]] * 10))
    s = _sample([[1, 0], [0, 1]])
    s.sequences = [np.array([0]), np.array([7])]
    assert det.detect(s).is_anomaly.tolist() == [False, True]


def test_labels_files(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("key,label\nblk_1,Normal\nblk_2,ANOMALY\nblk_3,1\n")
    assert read_labels(p) == ("session", {"blk_1": 0, "blk_2": 1, "blk_3": 1})
    p.write_text("line,label\n1,0\n2,maybe\n")
    with pytest.raises(ValueError, match="label 'maybe' is not 0/1"):
        read_labels(p)
    p.write_text("id,label\n")
    with pytest.raises(ValueError, match="header must be"):
        read_labels(p)
