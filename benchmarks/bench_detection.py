"""Detection quality, logvec's default pipeline against the classic detectors, on labelled cases with
chronological train/test splits (`detection_cases.py`). One table: P, R, F1, AP and the false-alarm rate
(flagged normal items / normal items) per case and detector.

    python benchmarks/bench_detection.py [--cases hdfs5k-chrono,shop-clean] [--pipeline pipelines/default.yaml]
                                         [--session-detectors novelty+knn,novelty+pca,novelty]
                                         [--bgl path/to/BGL_2k.log]

`--session-detectors` adds a logvec row per session detector (an ensemble of the named members, `max`) on
the session cases: the table the default session detector is chosen by. `--bgl` adds the supercomputer RAS
cases (bgl-50 … bgl-80) from Loghub's BGL_2k.log, which this repository does not ship.

The peers see the same events logvec does (its parse, masks and template miner, fitted on TRAIN) as an
event-count matrix per session (a line is a session of one event) and use their published threshold rules.
Writes benchmarks/out/detection.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from detection_cases import BGL_SHARES, CASES, Case, bgl_chrono
from peers.classic import PEERS
from results import save

from logvec.config import PipelineConfig, load_pipeline
from logvec.evaluate import average_precision, evaluate
from logvec.masking import Masker
from logvec.sessionkeys import session_keys
from logvec.parse import Parser
from logvec.records import RawBatch
from logvec.sessions import Sessions
from logvec.templates import TemplateMiner

HERE = Path(__file__).resolve().parent
def metrics(labels: np.ndarray, flagged: np.ndarray, scores: np.ndarray) -> dict:
    tp = int(np.sum(flagged & (labels == 1)))
    fp = int(np.sum(flagged & (labels == 0)))
    fn = int(np.sum(~flagged & (labels == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    negatives = int(np.sum(labels == 0))
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "ap": average_precision(labels, scores) if labels.sum() else None,
            "false_alarm_rate": fp / negatives if negatives else 0.0, "tp": tp, "fp": fp, "fn": fn}


def event_matrix(case: Case, config: PipelineConfig):
    """(train X, test X, test item names) of event counts, events from logvec's template stage."""
    cfg = config.model_copy(update={"session": None})
    keys = None
    if case.session_key:
        from logvec.config import SessionConfig

        keys = session_keys(cfg.model_copy(update={"session": SessionConfig(key=case.session_key)}))
    parser, masker, miner = Parser(cfg.parse, keys), Masker(cfg.masking), TemplateMiner(cfg.templates)

    def items(lines: list[str], prefix: str):
        recs, _ = parser.parse(RawBatch(lines, [f"{prefix}:{i + 1}" for i in range(len(lines))]))
        tids = miner.update(masker.mask(recs.messages))
        if case.level == "session":
            groups = Sessions.group(recs.sessions)
            return groups.keys, [tids[ix] for ix in groups.lines]
        return [i.rsplit(":", 1)[1] for i in recs.ids], [tids[i:i + 1] for i in range(len(tids))]

    _, train_seqs = items(case.train, "train")
    names, test_seqs = items(case.test, "test")
    column: dict[int, int] = {}
    for s in train_seqs:
        for t in s.tolist():
            column.setdefault(t, len(column))
    width = len(column) + 1  # one column for every event the training never had

    def matrix(seqs):
        X = np.zeros((len(seqs), width))
        for i, s in enumerate(seqs):
            for t in s.tolist():
                X[i, column.get(t, width - 1)] += 1
        return X

    return matrix(train_seqs), matrix(test_seqs), names


def session_variant(config: PipelineConfig, key: str, members: str) -> PipelineConfig:
    from logvec.config import parse_pipeline

    data = config.model_dump(exclude={"session"})
    data["session"] = {"key": key, "detector": {"type": "ensemble",
                                                "members": [{"type": m} for m in members.split("+")]}}
    return parse_pipeline(data)


def run_case(case: Case, config: PipelineConfig, tmp: Path, session_detectors: list[str]) -> dict:
    train, test, labels_path = case.write(tmp / case.name)
    rows = {}
    variants = {"logvec": config}
    if case.level == "session":
        variants |= {f"logvec[{m}]": session_variant(config, case.session_key, m) for m in session_detectors}
    for name, cfg in variants.items():
        t = time.perf_counter()
        r = evaluate(cfg, [str(train)], [str(test)], str(labels_path), session_key=case.session_key)
        s = r.scored
        rows[name] = metrics(s.labels, s.flagged, s.scores) | {"seconds": round(time.perf_counter() - t, 2)}
    Xtr, Xte, names = event_matrix(case, config)
    y = np.array([case.labels.get(n, 0) for n in names])
    for name, peer in PEERS.items():
        t = time.perf_counter()
        try:
            p = peer().fit(Xtr)
            rows[name] = metrics(y, p.predict(Xte), p.score(Xte)) | {"seconds": round(time.perf_counter() - t, 2)}
        except Exception as e:  # a peer that cannot run on a case is reported, not hidden
            rows[name] = {"error": f"{type(e).__name__}: {e}"}
    return {"level": case.level, "train": len(case.train), "test": len(case.test),
            "positives": int(sum(case.labels.values())), "items": len(case.labels), "detectors": rows}


def fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--pipeline", default=str(HERE.parent / "pipelines" / "default.yaml"))
    ap.add_argument("--session-detectors", default="", help="comma-separated member lists, e.g. novelty+pca")
    ap.add_argument("--bgl", type=Path, help="Loghub's BGL_2k.log: adds the bgl-50 … bgl-80 cases")
    a = ap.parse_args()
    config = load_pipeline(a.pipeline)
    cases = {name: CASES[name] for name in a.cases.split(",") if name}
    if a.bgl:
        cases |= {f"bgl-{round(s * 100)}": (lambda s=s: bgl_chrono(a.bgl, s)) for s in BGL_SHARES}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in cases.items():
            results[name] = run_case(make(), config, Path(tmp),
                                     [m for m in a.session_detectors.split(",") if m])
            print(f"\n{name} ({results[name]['level']}, {results[name]['items']} items, "
                  f"{results[name]['positives']} anomalous)")
            print(f"  {'detector':26}{'P':>7}{'R':>7}{'F1':>7}{'AP':>7}{'FAR':>8}")
            for det, m in results[name]["detectors"].items():
                if "error" in m:
                    print(f"  {det:26}{m['error']}")
                    continue
                print(f"  {det:26}{fmt(m['precision']):>7}{fmt(m['recall']):>7}{fmt(m['f1']):>7}"
                      f"{fmt(m['ap']):>7}{m['false_alarm_rate']:>8.4f}")
    save("detection.json", {"pipeline": a.pipeline, "cases": results})


if __name__ == "__main__":
    main()
