"""Novelty: what the baseline never or rarely showed.

* Lines: how rare the line's template was among the baseline lines, plus the weight of its level
  (`severity`): a new FATAL line outranks new INFO chatter. A template never seen at FATAL (`flag_new_from`)
  is flagged whatever the threshold: a baseline whose held-out lines show new FATAL lines too (a crash's
  register dump) would otherwise leave the threshold above every new one. The explanation names the
  template, its words the baseline rarely or never used, and the level when it weighed.
* Sessions: how rare its rarest template was among the baseline sessions (weighed by the level its words
  imply); a step out of order or in the wrong place (an "every A comes before the first B" that held in at
  least `order_confidence` of the baseline sessions having both, with at least `min_support` of them); a
  missing step (a template present in at least `order_confidence` of the baseline sessions, or of those that
  have another template, absent here). Counting sessions, not lines, keeps one chatty session from making its
  own templates look common.

Every score is a surprisal, -log10 of how often the baseline showed the event (a broken invariant: how often
the baseline broke it), less one: an event in a tenth of the baseline or more scores 0. Scores read alike at
both levels and are one number to threshold. How rare is unusual is learned, not fixed: by default the
threshold is the held-out rule of `ThresholdConfig` (a path that 1-2% of the baseline sessions take is then
normal, because held-out baseline sessions take it too); `rare_fraction` fixes it at that rarity instead.
"""

from __future__ import annotations

import re

import numpy as np

from logvec.config import SeverityConfig, ThresholdConfig
from logvec.detect.base import Detector, Explanation, Sample
from logvec.detect.neighbours import Reference
from logvec.severity import GRADES, SeverityWeights

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]+")
COMMON_DECADES = 1.0  # rarity below one in ten does not count
ORDER_CHUNK = 512  # sessions whose order is checked at once


class NoveltyDetector(Detector):
    name = "novelty"
    # Rarity is counted in whole items: in a small baseline, items with a rare event are few by nature, and
    # up to a fifth of them may be its anomalies (HDFS_5k: 12% of the blocks, 10 of those 13 anomalous).
    min_tail = 0.2

    def __init__(self, rare_fraction: float | None = None, order_confidence: float = 0.995, min_support: int = 20,
                 flag_broken_invariants: bool = True, flag_new_from: str = "fatal", max_reference: int = 20_000,
                 severity: SeverityConfig | None = None, threshold: ThresholdConfig | None = None):
        self.rare_fraction = rare_fraction
        self.order_confidence = order_confidence
        self.min_support = min_support
        self.flag_broken_invariants = flag_broken_invariants
        self.flag_new_from = flag_new_from
        self.max_reference = max_reference
        self.severity = severity
        self.threshold = threshold or ThresholdConfig()

    # ------------------------------------------------------------ fit
    def _fit(self, sample: Sample) -> "NoveltyDetector":
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
        self.order_ = None
        if sample.level == "session":
            self._fit_order(sample)
        return self

    def standing_in_for(self, n: int) -> None:
        # a never-seen event counts as half an occurrence in the whole baseline, as it does for the model that
        # scores new items: in a fold's smaller count it would read rarer, and every new item of a level the
        # held-out items reached would clear the threshold by that difference alone
        self.baseline_n_ = n

    def merge_templates(self, merges: dict[int, int]) -> None:
        """Templates merged after the fit (old id -> the id their lines carry now): the baseline counts of
        the old ids are the new one's too, or the merged template would look as rare as its first word."""
        for old, new in merges.items():
            if old in self.counts_:
                self.counts_[new] = self.counts_.get(new, 0) + self.counts_.pop(old)

    def small_baseline_rule(self, sample: Sample) -> str:
        """Lines: the largest held-out score. A line baseline is a stream whose new lines come in bursts (a
        crash writes a dozen register lines never seen before, a job prints a new banner), and the fence would
        take that normal novelty for the baseline's anomalies and flag every new INFO line after it. Sessions
        keep the fence: up to a fifth of a small baseline's sessions with a rare event may be its anomalies."""
        return "max" if sample.level == "line" else self.small_baseline

    def _set_threshold(self, sample: Sample) -> None:
        if self.rare_fraction is None:
            return super()._set_threshold(sample)
        # fixed rarity; with a tiny baseline only never-seen templates can be rare
        fraction = self.rare_fraction if self.rare_fraction * self.n_ > 0.5 else 0.0
        self.threshold_, self.center_ = float(self._surprise(fraction)), 0.0

    def _after_threshold(self, sample: Sample) -> None:
        self.reference_ = Reference(sample, self.max_reference)
        if len(sample):  # a baseline row is normal when the items using it were not flagged
            flagged = self.score(sample) >= self.threshold_
            self.reference_.normal = ~np.isin(self.reference_.source, sample.vectors.index[flagged])

    def flag(self, scores: np.ndarray, sample: Sample) -> np.ndarray:
        flagged = scores >= self.threshold_
        new_at = self._new_at_level(sample)
        return flagged | new_at if new_at is not None else flagged

    def _new_at_level(self, sample: Sample) -> np.ndarray | None:
        """Lines whose template the baseline never showed, at level `flag_new_from` or worse; None when the
        rule is off or the lines carry no levels."""
        at = getattr(self, "flag_new_from", "none")  # models saved before the rule: off
        if at == "none" or sample.template_ids is None or sample.levels is None or not len(sample):
            return None
        uniq, inv = np.unique(sample.template_ids, return_inverse=True)  # a batch has few distinct templates
        new = np.array([self.counts_.get(int(t), 0) == 0 for t in uniq.tolist()], dtype=bool)[inv.ravel()]
        if not new.any():
            return new
        grades = self._weigh().grades(sample.levels, sample.template_ids, sample.template_text)
        return new & (grades >= GRADES.index(at))

    def _severity(self, sample: Sample) -> np.ndarray | None:
        """Per line, the weight of its level; None when not weighed (sessions, no levels, turned off)."""
        if self.severity is None or sample.levels is None or sample.template_ids is None:
            return None
        return self._weigh().weights(sample.levels, sample.template_ids, sample.template_text)

    def _weigh(self) -> SeverityWeights:
        """The level weights, with their cache of (level, template text) pairs (not saved with the model)."""
        weigh = self.__dict__.get("_weights")
        if weigh is None:  # grading needs no weights: `flag_new_from` grades lines with severity turned off too
            weigh = self._weights = SeverityWeights(self.severity or SeverityConfig())
        return weigh

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_weights", None)
        return state

    def _surprise(self, freq: float | np.ndarray, n: float | None = None):
        """Decades of rarity past one in ten: an event in 10% or more of the baseline scores 0 (how common a
        common event is only adds noise), in 1% scores 1; one never seen counts as half an occurrence."""
        n = self.__dict__.get("baseline_n_", self.n_) if n is None else n
        return np.maximum(-np.log10(np.maximum(freq, 0.5 / n)) - COMMON_DECADES, 0.0)

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
        # surprisal of breaking an invariant: how often the baseline broke it (half a case when never)
        self.order_surprise_ = self._surprise((after + 0.5) / np.maximum(support + 1.0, 1.0))
        self.missing_surprise_ = self._surprise((missing_rate * n + 0.5) / (n + 1.0))
        # implied steps: b is present in nearly every baseline session that has a ("order confirmed" ⇒
        # "payment captured"), a step that only some kinds of session take
        has = present.sum(axis=0).astype(np.float64)
        co = present.T.astype(np.float64) @ present
        self.implied_ = (has[:, None] >= self.min_support) & (co >= self.order_confidence * has[:, None])
        np.fill_diagonal(self.implied_, False)
        self.implied_ &= ~self.required_[None, :]  # already required on its own
        self.implied_support_ = has
        self.implied_together_ = co
        self.implied_surprise_ = self._surprise((has[:, None] - co + 0.5) / (has[:, None] + 1.0))

    # ------------------------------------------------------------ score
    def _session_rarity(self, sample: Sample) -> np.ndarray:
        """Per session: the largest rarity of its templates, each rare one (under one in ten) weighed by the
        level its words imply, so that a rare "Unexpected error" outranks a rare but ordinary step."""
        present = [np.unique(s) for s in sample.sequences]
        if not present:
            return np.zeros(0)
        uniq, inv = np.unique(np.concatenate(present), return_inverse=True)
        rarity = self._surprise(np.array([self.counts_.get(int(t), 0) for t in uniq.tolist()]) / self.n_)
        if self.severity is not None:
            weigh = self._weigh()
            rare = np.flatnonzero(rarity > 0)
            rarity[rare] += [weigh.line_weight("", sample.template_text(int(uniq[i]))) for i in rare.tolist()]
        per_template = rarity[inv]
        ends = np.cumsum([len(p) for p in present])
        return np.maximum.reduceat(per_template, np.concatenate([[0], ends[:-1]])) if len(per_template) else \
            np.zeros(len(present))

    def _order_events(self, sample: Sample):
        """(violations (n,T,T), missing (n,T), implied-but-missing (n,T,T)) bools, or None when no invariants
        were learned."""
        if self.order_ is None or not len(sample):
            return None
        F, L = self._positions(sample.sequences)
        present = np.isfinite(F)
        violations = self.order_[None] & present[:, :, None] & present[:, None, :] & (L[:, :, None] > F[:, None, :])
        missing = self.required_[None] & ~present
        implied = self.implied_[None] & present[:, :, None] & ~present[:, None, :]  # (n, a, b): a here, b not
        return violations, missing, implied

    def score(self, sample: Sample) -> np.ndarray:
        if sample.template_ids is not None:
            # one template per line: look each distinct template up once
            uniq, inv = np.unique(sample.template_ids, return_inverse=True)
            freq = np.array([self.counts_.get(int(t), 0) for t in uniq]) / self.n_
            scores = self._surprise(freq)[inv]
            weights = self._severity(sample)
            return scores + weights if weights is not None else scores
        scores = self._session_rarity(sample)
        if self.order_ is None:
            return scores
        # Invariant Mining's rule: a broken invariant is an anomaly, however often the baseline broke it (up to
        # 1 - order_confidence of its sessions: which may be its own anomalies, setting the threshold above
        # them). Not while calibrating: the threshold is set from what the scores say alone.
        floor = self.__dict__.get("threshold_") if getattr(self, "flag_broken_invariants", False) else None
        # (sessions × T × T) arrays: a chunk of sessions at a time keeps them to a few MB
        for start in range(0, len(sample), ORDER_CHUNK):
            part = sample.take(np.arange(start, min(start + ORDER_CHUNK, len(sample))))
            violations, missing, implied = self._order_events(part)
            v = np.where(violations, self.order_surprise_[None], 0.0).max(axis=(1, 2))
            m = np.where(missing, self.missing_surprise_[None], 0.0).max(axis=1)
            i = np.where(implied, self.implied_surprise_[None], 0.0).max(axis=(1, 2))
            broken = np.maximum.reduce([v, m, i])
            if floor is not None:
                broken = np.where(violations.any(axis=(1, 2)) | missing.any(axis=1) | implied.any(axis=(1, 2)),
                                  np.maximum(broken, floor), broken)
            scores[start:start + len(part)] = np.maximum(scores[start:start + len(part)], broken)
        return scores

    # ------------------------------------------------------------ explain
    def explain(self, sample: Sample, idx: np.ndarray, scores: np.ndarray) -> list[list[Explanation]]:
        sub = sample.take(idx)
        order = self._order_events(sub) if sample.level == "session" else None
        weights = self._severity(sub)
        new_at = self._new_at_level(sub)
        unit = "lines" if sample.level == "line" else "sessions"
        near = self.reference_.nearest_normal(sub.vectors.dense())
        rare_below = 10.0 ** -(self.threshold_ + COMMON_DECADES)  # a frequency this low passes on its own
        out = []
        for j, i in enumerate(idx.tolist()):
            exps: list[Explanation] = []
            evidence = []
            kinds = set()
            for t in np.unique(sub.sequences[j]).tolist():
                c = self.counts_.get(t, 0)
                rare = c == 0 or c / self.n_ < rare_below
                if rare or weights is not None:  # a line's one template is always named
                    text = sample.template_text(t)
                    # the rarest words, ties in word order (the same reason in every process)
                    words = sorted({w for w in _WORD.findall(text) if self.word_counts_.get(w, 0) / self.n_
                                    < rare_below}, key=lambda w: (self.word_counts_.get(w, 0), w))[:5]
                    evidence.append(f"template {text!r} in {c} of {self.n_} baseline {unit}"
                                    + (f", rare words: {', '.join(words)}" if words else ""))
                if rare:
                    kinds.add("new_template" if c == 0 else "rare_template")
            if weights is not None and weights[j] > 0:
                level = sub.levels[j] if sub.levels is not None and sub.levels[j] else "none (read from its words)"
                evidence.append(f"level {level} weighs +{weights[j]:.2g}")
                if scores[i] - weights[j] < self.threshold_:  # rare alone would not have flagged it
                    kinds.add("severity")
            if new_at is not None and new_at[j]:
                evidence.append(f"never seen at level {self.flag_new_from} or worse: flagged whatever the "
                                "threshold (flag_new_from)")
                kinds.add("severity")
            if evidence:
                kind = next((k for k in ("new_template", "rare_template", "severity") if k in kinds),
                            "rare_template")
                exps.append(Explanation(kind, self.name, float(scores[i]), self.threshold_, evidence[:5]))
                for extra in sorted(kinds - {kind}):
                    exps.append(Explanation(extra, self.name, float(scores[i]), self.threshold_))
            if order is not None:
                violations, missing, implied = order
                steps = [f"missing step {sample.template_text(int(self.tracked_[a]))!r} (present in "
                         f"{100 * (1 - self.missing_rate_[a]):.1f}% of baseline sessions)"
                         for a in np.flatnonzero(missing[j]).tolist()]
                steps += [f"missing step {sample.template_text(int(self.tracked_[b]))!r} (present in "
                          f"{int(self.implied_together_[a, b])} of {int(self.implied_support_[a])} baseline sessions "
                          f"with {sample.template_text(int(self.tracked_[a]))!r})"
                          for a, b in zip(*np.nonzero(implied[j]))]
                if steps:
                    exps.append(Explanation("missing_step", self.name, float(scores[i]), self.threshold_, steps[:5]))
                pairs = [f"{sample.template_text(int(self.tracked_[a]))!r} came after "
                         f"{sample.template_text(int(self.tracked_[b]))!r}; it comes before it in "
                         f"{self.order_support_[a, b] - self.order_violations_[a, b]} of "
                         f"{self.order_support_[a, b]} baseline sessions"
                         for a, b in zip(*np.nonzero(violations[j]))]
                if pairs:
                    exps.append(Explanation("sequence", self.name, float(scores[i]), self.threshold_, pairs[:5]))
            if not exps:  # flagged by score alone: never leave a flag unexplained
                exps.append(Explanation("rare_template", self.name, float(scores[i]), self.threshold_))
            exps[0].neighbours = [(name, dist) for name, dist, _ in near[j]]
            out.append(exps)
        return out
