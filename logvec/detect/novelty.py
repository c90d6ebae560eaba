"""Novelty: what the baseline never or rarely showed.

* Lines: the line's template is new, or rarer than `rare_fraction` of the baseline lines; the explanation
  names the template and its words that the baseline rarely or never used.
* Sessions: a template present in fewer than `rare_fraction` of the baseline sessions; a step out of order
  or in the wrong place (an "every A comes before the first B" that held in at least `order_confidence` of
  the baseline sessions having both, with at least `min_support` of them); a missing step (a template
  present in at least `order_confidence` of the baseline sessions, absent here). Counting sessions, not
  lines, keeps one chatty session from making its own templates look common.

Scores are surprisal, -log10 of how often the baseline showed the event, so they read the same at both
levels; the threshold is -log10(rare_fraction).
"""

from __future__ import annotations

import re

import numpy as np

from logvec.detect.base import Detector, Explanation, Sample
from logvec.detect.neighbours import Reference

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]+")


class NoveltyDetector(Detector):
    name = "novelty"

    def __init__(self, rare_fraction: float = 0.001, order_confidence: float = 0.995, min_support: int = 20,
                 max_reference: int = 20_000):
        self.rare_fraction = rare_fraction
        self.order_confidence = order_confidence
        self.min_support = min_support
        self.max_reference = max_reference

    # ------------------------------------------------------------ fit
    def fit(self, sample: Sample) -> "NoveltyDetector":
        n = len(sample)
        self.n_ = max(n, 1)
        if sample.template_ids is not None:  # lines: one template each
            ids, counts = np.unique(sample.template_ids, return_counts=True)
        else:
            present = [np.unique(s) for s in sample.sequences]
            ids, counts = np.unique(np.concatenate(present) if present else np.zeros(0, np.int64),
                                    return_counts=True)
        self.counts_ = dict(zip(ids.tolist(), counts.tolist()))  # items containing each template
        self.word_counts_: dict[str, int] = {}
        for tid, c in self.counts_.items():
            for w in set(_WORD.findall(sample.template_text(tid))):
                self.word_counts_[w] = self.word_counts_.get(w, 0) + c
        # with a tiny baseline only never-seen templates can be rare
        self.threshold_ = float(self._surprise(self.rare_fraction if self.rare_fraction * self.n_ > 0.5 else 0.0))
        self.center_ = 0.0
        self.order_ = None
        if sample.level == "session":
            self._fit_order(sample)
        self.reference_ = Reference(sample, self.max_reference)
        if len(sample):  # a baseline row is normal when the items using it were not flagged
            flagged = self.score(sample) >= self.threshold_
            self.reference_.normal = ~np.isin(self.reference_.source, sample.vectors.index[flagged])
        return self

    def _surprise(self, freq: float | np.ndarray, n: float | None = None):
        n = self.n_ if n is None else n
        return -np.log10(np.maximum(freq, 0.5 / n))

    def _positions(self, sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(n, T) positions of each tracked template's first and last occurrence, +inf / -inf when absent."""
        F = np.full((len(sequences), len(self.tracked_)), np.inf)
        L = np.full((len(sequences), len(self.tracked_)), -np.inf)
        col = {t: j for j, t in enumerate(self.tracked_.tolist())}
        for i, seq in enumerate(sequences):
            for pos, t in enumerate(seq.tolist()):
                j = col.get(t)
                if j is not None:
                    F[i, j] = min(F[i, j], pos)
                    L[i, j] = pos
        return F, L

    def _fit_order(self, sample: Sample) -> None:
        n = len(sample)
        if n < self.min_support:
            return
        common = [t for t, c in self.counts_.items() if c >= self.min_support]
        self.tracked_ = np.array(sorted(common), dtype=np.int64)
        if not len(self.tracked_):
            return
        F, L = self._positions(sample.sequences)
        present = np.isfinite(F)
        # required steps: present in nearly every baseline session
        missing_rate = 1.0 - present.mean(axis=0)
        self.required_ = missing_rate <= 1.0 - self.order_confidence
        # order invariants: among sessions with both, every a comes before the first b
        both = present[:, :, None] & present[:, None, :]
        before = (L[:, :, None] < F[:, None, :]) & both
        support = both.sum(axis=0)
        after = support - before.sum(axis=0)  # sessions where a did not come first
        np.fill_diagonal(support, 0)
        self.order_ = (support >= self.min_support) & (after <= (1.0 - self.order_confidence) * support)
        self.order_support_ = support
        self.order_violations_ = after
        self.missing_rate_ = missing_rate

    # ------------------------------------------------------------ score
    def _template_freq(self, sample: Sample) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per item: the baseline frequency of its rarest template, and its templates."""
        present = [np.unique(s) for s in sample.sequences]
        rarest = np.array([
            min((self.counts_.get(t, 0) for t in p.tolist()), default=self.n_) / self.n_ for p in present
        ]) if present else np.zeros(0)
        return rarest, present

    def _order_events(self, sample: Sample):
        """(violations (n,T,T) bool, missing (n,T) bool) or None when no invariants were learned."""
        if self.order_ is None or not len(sample):
            return None
        F, L = self._positions(sample.sequences)
        present = np.isfinite(F)
        violations = self.order_[None] & present[:, :, None] & present[:, None, :] & (L[:, :, None] > F[:, None, :])
        missing = self.required_[None] & ~present
        return violations, missing

    def score(self, sample: Sample) -> np.ndarray:
        if sample.template_ids is not None:
            # one template per line: look each distinct template up once
            uniq, inv = np.unique(sample.template_ids, return_inverse=True)
            freq = np.array([self.counts_.get(int(t), 0) for t in uniq]) / self.n_
            return self._surprise(freq)[inv]
        rarest, _ = self._template_freq(sample)
        scores = self._surprise(rarest)
        order = self._order_events(sample)
        if order is not None:
            violations, missing = order
            flagged = violations.any(axis=(1, 2)) | missing.any(axis=1)
            scores = np.where(flagged, np.maximum(scores, self.threshold_), scores)
        return scores

    # ------------------------------------------------------------ explain
    def explain(self, sample: Sample, idx: np.ndarray, scores: np.ndarray) -> list[list[Explanation]]:
        sub = sample.take(idx)
        order = self._order_events(sub) if sample.level == "session" else None
        unit = "lines" if sample.level == "line" else "sessions"
        near = self.reference_.nearest_normal(sub.vectors.dense())
        out = []
        for j, i in enumerate(idx.tolist()):
            exps: list[Explanation] = []
            evidence = []
            kinds = set()
            for t in np.unique(sub.sequences[j]).tolist():
                c = self.counts_.get(t, 0)
                if c == 0 or c / self.n_ < self.rare_fraction:
                    kinds.add("new template" if c == 0 else "rare template")
                    text = sample.template_text(t)
                    words = sorted({w for w in _WORD.findall(text) if self.word_counts_.get(w, 0) / self.n_
                                    < self.rare_fraction}, key=lambda w: self.word_counts_.get(w, 0))[:5]
                    evidence.append(f"template {text!r} in {c} of {self.n_} baseline {unit}"
                                    + (f", rare words: {', '.join(words)}" if words else ""))
            if evidence:
                kind = "new template" if "new template" in kinds else "rare template"
                exps.append(Explanation(kind, self.name, float(scores[i]), self.threshold_, evidence[:5]))
            if order is not None:
                violations, missing = order
                steps = [f"missing step {sample.template_text(int(self.tracked_[a]))!r} (present in "
                         f"{100 * (1 - self.missing_rate_[a]):.1f}% of baseline sessions)"
                         for a in np.flatnonzero(missing[j]).tolist()]
                if steps:
                    exps.append(Explanation("missing step", self.name, float(scores[i]), self.threshold_, steps[:5]))
                pairs = [f"{sample.template_text(int(self.tracked_[a]))!r} came after "
                         f"{sample.template_text(int(self.tracked_[b]))!r}; it comes before it in "
                         f"{self.order_support_[a, b] - self.order_violations_[a, b]} of "
                         f"{self.order_support_[a, b]} baseline sessions"
                         for a, b in zip(*np.nonzero(violations[j]))]
                if pairs:
                    exps.append(Explanation("unusual sequence", self.name, float(scores[i]), self.threshold_,
                                            pairs[:5]))
            if not exps:  # flagged by score alone (should not happen, but never leave a flag unexplained)
                exps.append(Explanation("rare template", self.name, float(scores[i]), self.threshold_))
            exps[0].neighbours = [(name, dist) for name, dist, _ in near[j]]
            out.append(exps)
        return out

