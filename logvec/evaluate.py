"""`logvec eval`: fit on TRAIN, score TEST, compare with labels (line or session level), report.

Labels are a CSV with a header: `line,label` (1-based line number in TEST: line level) or `key,label`
(session key: session level). Labels may be 0/1 or normal/anomaly, in any case.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from logvec.config import PipelineConfig, SessionConfig
from logvec.detect.base import append_reason
from logvec.detect.rate import storm_score
from logvec.model import Model
from logvec.pipeline import prepare_batch
from logvec.sessions import Sessions
from logvec.sources import iter_file_batches
from logvec.textstages import TextStages

_POSITIVE = {"1", "anomaly", "anomalous", "abnormal", "true", "yes"}
_NEGATIVE = {"0", "normal", "false", "no"}


class LabelError(ValueError):
    """A labels file that cannot be read."""


def read_labels(path: str | Path) -> tuple[str, dict[str, int]]:
    """('line' | 'session', {line number or key: 0/1})."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header not in (["line", "label"], ["key", "label"]):
            raise LabelError(f"{path}: header must be 'line,label' or 'key,label', got {','.join(header)!r}")
        labels: dict[str, int] = {}
        for n, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise LabelError(f"{path}:{n}: expected 2 columns, got {len(row)}")
            value = row[1].strip().lower()
            if value not in _POSITIVE | _NEGATIVE:
                raise LabelError(f"{path}:{n}: label {row[1]!r} is not 0/1 or normal/anomaly")
            labels[row[0].strip()] = int(value in _POSITIVE)
    return ("line" if header[0] == "line" else "session"), labels


@dataclass
class ItemScores:
    """One scored item (a line or a session) with its label."""

    items: list[str]
    labels: np.ndarray
    scores: np.ndarray
    flagged: np.ndarray
    reasons: list[str]


@dataclass
class EvalResult:
    pipeline: str
    level: str
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    average_precision: float
    train_lines: int
    test_lines: int
    fit_seconds: float
    score_seconds: float
    lines_per_second: float
    unscored: int = 0
    unlabeled: int = 0
    rate_events: list[dict] = field(default_factory=list)
    scored: ItemScores | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("scored", "rate_events")}
        d = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}
        d["rate_events"] = len(self.rate_events)
        return d


def confusion(labels: np.ndarray, flagged: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum(flagged & (labels == 1)))
    fp = int(np.sum(flagged & (labels == 0)))
    fn = int(np.sum(~flagged & (labels == 1)))
    tn = int(np.sum(~flagged & (labels == 0)))
    return tp, fp, fn, tn


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.sum() == 0:
        return 0.0
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, scores))


def _lines(paths: list[str], config: PipelineConfig):
    return iter_file_batches(paths, config.run.batch_size, config.parse.max_line_size)


def evaluate(config: PipelineConfig, train: list[str], test: list[str], labels_path: str | Path,
             session_key: str | None = None, pipeline_name: str | None = None) -> EvalResult:
    level, labels = read_labels(labels_path)
    if session_key is not None:
        config = config.model_copy(update={"session": SessionConfig(key=session_key, detector=(
            config.session.detector if config.session else SessionConfig(key=session_key).detector))})
    if level == "session" and config.session is None:
        raise LabelError("session labels need a session rule: give --session-key REGEX or set session.key")

    t0 = time.perf_counter()
    train_batches = list(_lines(train, config))
    model, baseline = Model.fit(config, train_batches)
    fit_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    text = TextStages(config)
    line_no: list[int] = []
    scores, flagged, reasons, sess, tids = [], [], [], [], []
    rates = model.rate_tracker()
    recalled: list[tuple[str, str]] = []
    rate_events = []
    n_test = 0
    for raw in _lines(test, config):
        n_test += len(raw)
        records, _, _ = prepare_batch(raw, text, model)
        if rates is not None:
            update = rates.apply(records, model.line_threshold)
            recalled += update.recalled
            rate_events += update.events
        line_no.extend(int(i.rsplit(":", 1)[1]) for i in records.ids)
        scores.append(records.scores)
        flagged.append(records.is_anomaly)
        reasons.extend(records.reasons)
        sess.extend(records.sessions)
        tids.append(records.template_ids)
    if rates is not None:
        rate_events += rates.close_all()

    if level == "line":
        by_line = {n: i for i, n in enumerate(line_no)}
        all_scores, all_flags = np.concatenate(scores or [np.zeros(0)]), np.concatenate(flagged or [np.zeros(0, bool)])
        for rid, why in recalled:  # records of a storm window read before the storm showed
            p = by_line[int(rid.rsplit(":", 1)[1])]
            all_flags[p] = True
            all_scores[p] = max(all_scores[p], storm_score(model.line_threshold))
            reasons[p] = append_reason(reasons[p], why)
        items = sorted(labels, key=lambda k: int(k))
        pos = [by_line.get(int(k)) for k in items]
        unscored = sum(p is None for p in pos)
        lowest = float(all_scores.min()) if len(all_scores) else 0.0
        item_scores = np.array([all_scores[p] if p is not None else lowest for p in pos])
        item_flags = np.array([bool(all_flags[p]) if p is not None else False for p in pos])
        item_reasons = [reasons[p] if p is not None else "not scored (blank or dead letter)" for p in pos]
        threshold = model.detector.threshold_ if model.detector is not None else 0.0
        unlabeled = len(line_no) - (len(items) - unscored)
    else:
        sessions = Sessions.group(sess)
        all_tids = np.concatenate(tids or [np.zeros(0, np.int64)])
        det = model.detect_sessions(sessions.keys, [all_tids[ix] for ix in sessions.lines])
        by_key = {k: i for i, k in enumerate(sessions.keys)}
        items = list(labels)
        pos = [by_key.get(k) for k in items]
        unscored = sum(p is None for p in pos)
        lowest = float(det.scores.min()) if len(det.scores) else 0.0
        item_scores = np.array([det.scores[p] if p is not None else lowest for p in pos])
        item_flags = np.array([bool(det.is_anomaly[p]) if p is not None else False for p in pos])
        session_reasons = det.reasons
        item_reasons = [session_reasons[p] if p is not None else "no lines in TEST" for p in pos]
        threshold = det.threshold
        unlabeled = len(sessions) - (len(items) - unscored)
    score_seconds = time.perf_counter() - t1

    y = np.array([labels[k] for k in items], dtype=np.int64)
    tp, fp, fn, tn = confusion(y, item_flags)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return EvalResult(
        pipeline=pipeline_name or config.name, level=level, threshold=float(threshold), tp=tp, fp=fp, fn=fn, tn=tn,
        precision=precision, recall=recall, f1=f1, average_precision=average_precision(y, item_scores),
        train_lines=len(baseline), test_lines=n_test, fit_seconds=fit_seconds, score_seconds=score_seconds,
        lines_per_second=(len(baseline) + n_test) / max(fit_seconds + score_seconds, 1e-9),
        unscored=unscored, unlabeled=unlabeled, rate_events=[e.to_dict() for e in rate_events],
        scored=ItemScores(items, y, item_scores, item_flags, item_reasons),
    )


def write_report(result: EvalResult, out: str | Path, top: int = 10) -> None:
    """report.md, scores.csv and pr_curve.png in `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = result.scored
    if s is None:
        raise ValueError("a report needs the scored items: pass a result from evaluate(), not one read back")
    unit = "line" if result.level == "line" else "key"
    with open(out / "scores.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([unit, "label", "score", "flagged", "reason"])
        for item, y, sc, fl, why in zip(s.items, s.labels.tolist(), s.scores.tolist(), s.flagged.tolist(), s.reasons):
            w.writerow([item, y, f"{sc:.6g}", int(fl), why])

    fig, ax = plt.subplots(figsize=(6, 4.5))
    if s.labels.sum():
        p, r, _ = precision_recall_curve(s.labels, s.scores)
        ax.plot(r, p, label=f"{result.pipeline} (AP {result.average_precision:.3f})")
    ax.scatter([result.recall], [result.precision], color="red", zorder=3,
               label=f"chosen threshold {result.threshold:.3g}: P {result.precision:.3f} R {result.recall:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Precision-recall, {result.level} level")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pr_curve.png", dpi=110)
    plt.close(fig)

    order = np.argsort(-s.scores, kind="stable")
    fps = [i for i in order if s.flagged[i] and s.labels[i] == 0][:top]
    fns = [i for i in order if not s.flagged[i] and s.labels[i] == 1][:top]
    r = result
    lines = [
        f"# logvec eval — {r.pipeline}", "",
        f"Level: **{r.level}**; threshold {r.threshold:.4g}; "
        f"{r.train_lines:,} train lines, {r.test_lines:,} test lines.",
        "",
        "| precision | recall | F1 | average precision | lines/s |", "|---|---|---|---|---|",
        f"| {r.precision:.4f} | {r.recall:.4f} | {r.f1:.4f} | {r.average_precision:.4f} | {r.lines_per_second:,.0f} |",
        "", "## Confusion matrix", "", "| | predicted anomaly | predicted normal |", "|---|---|---|",
        f"| **anomaly** | {r.tp} (TP) | {r.fn} (FN) |", f"| **normal** | {r.fp} (FP) | {r.tn} (TN) |", "",
        f"Unscored labeled items: {r.unscored}; scored items without a label: {r.unlabeled}.", "",
        "![precision-recall curve](pr_curve.png)", "",
        f"## Top false positives ({len(fps)})", "",
    ]
    lines += [f"- `{s.items[i]}` score {s.scores[i]:.4g}: {s.reasons[i]}" for i in fps] or ["none"]
    lines += ["", f"## Top false negatives ({len(fns)})", ""]
    lines += [f"- `{s.items[i]}` score {s.scores[i]:.4g} (threshold {r.threshold:.4g})" for i in fns] or ["none"]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
