"""Rate anomalies: a known template far more often than the baseline had it (a storm), or a frequent one gone
quiet (a heartbeat that stops).

Counts are kept per (service, template) and event-time window. The baseline gives each pair its rate per
window; a window's count is a storm when a negative binomial with that rate (and the pair's own burstiness)
puts a count that high below `p_value`, and it is also at least `min_count` and `min_ratio` times the rate.
The rate is taken at the top of its 95% interval (Gamma, from the baseline's count), so a short baseline
that saw a template a few times does not make its next small burst a storm. A drop is a closed window whose
count the same distribution at the bottom of that interval, scaled by the window's share of the stream's
lines, puts below `p_value`: only templates steady and frequent enough for an empty window to be that
unlikely are watched, and only after `MIN_DROP_WINDOWS` baseline windows.

A storm flags its records (kind `rate`) as they arrive once the window's count crosses the line, and the
records of that window seen before the crossing afterwards; a drop has no record to flag and is an event of
its own (service, template, window, expected, observed). A window is judged once event time has passed its
end by another window; lines that arrive for it later (a partition lagging behind) are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from logvec.config import RateConfig, parse_duration
from logvec.detect.base import append_reason, join_kinds
from logvec.records import codes_of

MAX_RECALL_IDS = 5000  # records of a window remembered to flag them after the fact, at most
MIN_DROP_WINDOWS = 10  # a rate seen in fewer windows promises nothing of the next one: no drops judged


@dataclass
class RateEvent:
    """One window whose count of a (service, template) departed from the baseline's rate."""

    kind: str  # "storm" | "drop"
    service: str
    template_id: int
    window_start: float  # epoch seconds
    window_seconds: float
    expected: float
    observed: int
    p_value: float
    template: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.service}|{self.template_id}|{self.window_start:.0f}"

    def text(self) -> str:
        what = "more" if self.kind == "storm" else "fewer"
        return (f"rate {self.kind}: {self.observed} lines of {self.template!r} from {self.service or 'no service'} "
                f"in {self.window_seconds:g}s, expected {self.expected:.3g} "
                f"({what} than the baseline: p {self.p_value:.2g})")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "service": self.service, "template_id": self.template_id,
                "template": self.template, "window_start": self.window_start, "window_seconds": self.window_seconds,
                "expected": round(self.expected, 4), "observed": self.observed, "p_value": self.p_value}


class RateModel:
    """Each baseline (service, template)'s rate per window, and the counts that would be a storm or a drop."""

    def __init__(self, window: float | str = "1m", p_value: float = 1e-6, min_count: int = 10, min_ratio: float = 5.0,
                 drops: bool = True) -> None:
        self.window = window
        self.p_value = p_value
        self.min_count = min_count
        self.min_ratio = min_ratio
        self.drops = drops

    @property
    def window_s(self) -> float:
        return parse_duration(self.window)

    def fit(self, services: list[str], template_ids: np.ndarray, timestamps: np.ndarray) -> "RateModel":
        ok = np.flatnonzero(np.isfinite(timestamps))
        self.storm_at_: dict[tuple[str, int], int] = {}
        self.drop_low_: dict[tuple[str, int], float] = {}  # watched for drops: the bottom of the rate's interval
        self.expected_: dict[tuple[str, int], float] = {}
        self.size_: dict[tuple[str, int], float | None] = {}
        if not len(ok):
            return self
        # the windows in which the stream had lines, numbered 0..n-1: a gap in the whole stream is not a quiet
        # template
        active, win = np.unique(np.floor(timestamps[ok] / self.window_s).astype(np.int64), return_inverse=True)
        n_windows = len(active)
        self.lines_per_window_ = len(ok) / n_windows
        per_pair: dict[tuple[str, int], np.ndarray] = {}
        for (service, tid, wi), rows in _group_rows(services, template_ids, win.ravel(), ok):
            per_pair.setdefault((service, tid), np.zeros(n_windows))[wi] = len(rows)
        for key, per_window in per_pair.items():
            self._fit_pair(key, per_window)
        return self

    def _fit_pair(self, key: tuple[str, int], per_window: np.ndarray) -> None:
        n, total = len(per_window), float(per_window.sum())
        rate = total / n
        self.expected_[key] = rate
        high = stats.gamma.ppf(0.975, total + 1) / n  # top of the rate's 95% interval
        var = float(per_window.var(ddof=1)) if n > 1 else rate
        # bursty (variance above the mean): a negative binomial with the baseline's dispersion, else Poisson
        self.size_[key] = rate**2 / (var - rate) if var > rate > 0 else None

        def dist(mean: float):
            return self.distribution(key, mean)

        self.storm_at_[key] = int(max(dist(high).isf(self.p_value) + 1, self.min_count,
                                      math.ceil(self.min_ratio * high)))
        if self.drops and total > 0 and n >= MIN_DROP_WINDOWS:
            low = stats.gamma.ppf(0.025, total) / n  # the bottom of the rate's 95% interval
            if dist(low).cdf(0) < self.p_value:  # steady and frequent: an empty window would be news
                self.drop_low_[key] = low

    def merge_templates(self, merges: dict[int, int]) -> None:
        """Templates merged after the fit (old id -> the id their lines carry now): per service, the new id's
        rate is the sum of theirs, so the merged stream is not a storm of the first word's rate, nor a
        stopped old id a drop. Its limits add up (each is a bound on its own count, so the sum bounds the
        total); the most dispersed of them stands for the whole."""
        for (service, tid) in [k for k in self.expected_ if k[1] in merges]:
            old, new = (service, tid), (service, merges[tid])
            self.expected_[new] = self.expected_.get(new, 0.0) + self.expected_.pop(old)
            sizes = [s for s in (self.size_.pop(old, None), self.size_.get(new)) if s is not None]
            self.size_[new] = min(sizes) if sizes else None
            limit = self.storm_at_.pop(old, None)
            if limit is not None:
                self.storm_at_[new] = self.storm_at_.get(new, 0) + limit
            low = self.drop_low_.pop(old, None)
            if low is not None:
                self.drop_low_[new] = self.drop_low_.get(new, 0.0) + low

    def is_drop(self, key: tuple[str, int], observed: int, window_lines: int) -> bool:
        """A closed window's count of a watched pair is a drop when its distribution, at the bottom of the
        baseline's rate scaled by how many lines this stream had in the window, puts it below `p_value`. The
        scaling keeps a worker that reads some of the partitions, or a quiet hour of the whole stream, from
        looking like a drop of every frequent template."""
        return bool(self.drops_in([key], np.array([observed]), window_lines)[0])

    def drops_in(self, keys: list[tuple[str, int]], observed: np.ndarray, window_lines: int) -> np.ndarray:
        """`is_drop` for many watched pairs of one window at once: two vectorized cdfs, not a frozen
        distribution per pair (a backfill closes thousands of windows)."""
        scale = window_lines / max(self.lines_per_window_, 1e-9)
        mean = np.maximum(np.array([self.drop_low_[k] for k in keys]) * scale, 1e-9)
        size = np.array([self.size_.get(k) or np.nan for k in keys])
        bursty = ~np.isnan(size)
        cdf = np.empty(len(keys))
        cdf[~bursty] = stats.poisson.cdf(observed[~bursty], mean[~bursty])
        if bursty.any():
            s = size[bursty]
            cdf[bursty] = stats.nbinom.cdf(observed[bursty], s, s / (s + mean[bursty]))
        return cdf < self.p_value

    def distribution(self, key: tuple[str, int], mean: float):
        """A window's count of `key` at this mean: negative binomial with the baseline's dispersion when the
        pair was bursty (variance above the mean), Poisson otherwise."""
        size = self.size_.get(key)
        mean = max(mean, 1e-9)
        return stats.nbinom(size, size / (size + mean)) if size is not None else stats.poisson(mean)

    def p_value_of(self, kind: str, key: tuple[str, int], observed: int) -> float:
        """How likely a count this high (storm) or this low (drop) is at the baseline's mean rate."""
        d = self.distribution(key, self.expected_.get(key, 0.0))
        return float(d.sf(observed - 1) if kind == "storm" else d.cdf(observed))


@dataclass
class _Window:
    count: int = 0
    # the records of the window before a storm showed, as (a batch's ids, rows of it); None once flagged
    seen: list[tuple[list[str], np.ndarray]] | None = field(default_factory=list)
    kept: int = 0
    storm: bool = False


@dataclass
class RateUpdate:
    """What one batch changed: which of its rows are storm records (with their reasons), records of earlier
    batches to flag now (id, reason), and the windows that closed with an event."""

    flagged: np.ndarray
    reasons: dict[int, str]
    recalled: list[tuple[str, str]]
    events: list[RateEvent]


class RateTracker:
    """The open windows of a stream; `add` a batch at a time, `close_all` at the end of the input."""

    def __init__(self, model: RateModel, template_text=lambda t: "") -> None:
        self.model = model
        self.template_text = template_text
        self.w = model.window_s
        self._open: dict[tuple[str, int, int], _Window] = {}
        self._active: dict[int, int] = {}  # window -> lines the stream had in it (drops only where it had some)
        self._now = -math.inf
        self._closed_through = -(2**62)  # windows up to this one are judged: later lines for them are not counted
        # (service, template text) -> True for templates an SRE marked normal: neither counted nor judged
        self.quiet: Callable[[str, str], bool] | None = None

    def add(self, services: list[str], template_ids: np.ndarray, timestamps: np.ndarray,
            ids: list[str]) -> RateUpdate:
        n = len(ids)
        flagged = np.zeros(n, dtype=bool)
        reasons: dict[int, str] = {}
        recalled: list[tuple[str, str]] = []
        ok = np.flatnonzero(np.isfinite(timestamps))
        m = self.model
        if not len(ok) or not m.storm_at_:
            return RateUpdate(flagged, reasons, recalled, [])
        win = np.floor(timestamps[ok] / self.w).astype(np.int64)
        groups = _group_rows(services, template_ids, win, ok)
        for (service, tid, wi), rows in groups:
            if wi <= self._closed_through:  # a window already judged (a partition lagging in event time)
                continue
            if self.quiet is not None and self.quiet(service, self.template_text(tid)):
                continue
            self._active[wi] = self._active.get(wi, 0) + len(rows)
            key = (service, tid)
            limit = m.storm_at_.get(key)
            if limit is None and key not in m.drop_low_:
                continue
            state = self._open.setdefault((service, tid, wi), _Window())
            state.count += len(rows)
            if limit is None:
                continue
            if state.count >= limit:
                reason = self._event("storm", key, wi, state.count).text()
                flagged[rows] = True
                reasons.update(dict.fromkeys(rows.tolist(), reason))
                if not state.storm:
                    state.storm = True
                    for part, at in state.seen or []:
                        recalled += [(part[r], reason) for r in at.tolist()]
                    state.seen = None
            elif state.seen is not None:
                state.seen.append((ids, rows))  # the batch's id list and the rows: no copy per line
                state.kept += len(rows)
                if state.kept > MAX_RECALL_IDS:
                    state.seen = []  # too many to recall: the records from the crossing on are flagged
        self._now = max(self._now, float(timestamps[ok].max()))
        return RateUpdate(flagged, reasons, recalled, self._close(int(math.floor(self._now / self.w)) - 1))

    def apply(self, records, line_threshold: float) -> RateUpdate:
        """`add` a RecordBatch and flag its storm records in place: kind `rate`, the reason appended, the
        score raised to the line threshold at least (a storm record ranks with the flagged ones)."""
        update = self.add(records.services, records.template_ids, records.timestamps, records.ids)
        if update.reasons:
            idx = np.fromiter(update.reasons, dtype=np.int64, count=len(update.reasons))
            records.is_anomaly = np.asarray(records.is_anomaly, dtype=bool).copy()
            records.is_anomaly[idx] = True
            records.scores = np.asarray(records.scores, dtype=np.float32).copy()
            records.scores[idx] = np.maximum(records.scores[idx], np.float32(storm_score(line_threshold)))
            n = len(records)
            reasons = records.reasons or [""] * n
            kinds = records.kinds or [""] * n
            for i, why in update.reasons.items():
                reasons[i] = append_reason(reasons[i], why)
                kinds[i] = join_kinds([kinds[i], "rate"])
            records.reasons, records.kinds = reasons, kinds
        return update

    def _event(self, kind: str, key: tuple[str, int], wi: int, count: int) -> RateEvent:
        m = self.model
        return RateEvent(kind, key[0], key[1], wi * self.w, self.w, m.expected_.get(key, 0.0), count,
                         m.p_value_of(kind, key, count), self.template_text(key[1]))

    def _close(self, before: int) -> list[RateEvent]:
        """Events of the windows up to `before` (inclusive), which the stream has left behind."""
        self._closed_through = max(self._closed_through, before)
        done = [w for w in self._active if w <= before]
        if not done:
            return []
        closing = {k: self._open.pop(k) for k in [k for k in self._open if k[2] <= before]}
        events = [self._event("storm", (k[0], k[1]), k[2], s.count) for k, s in closing.items() if s.storm]
        watched = list(self.model.drop_low_)
        for wi in sorted(done):
            lines = self._active.pop(wi)
            if not watched:
                continue
            got = np.array([closing[k].count if (k := (key[0], key[1], wi)) in closing else 0 for key in watched])
            for key, n, drop in zip(watched, got.tolist(), self.model.drops_in(watched, got, lines).tolist()):
                if drop:
                    events.append(self._event("drop", key, wi, n))
        return events

    def close_all(self) -> list[RateEvent]:
        """The end of the input: storms of the windows still open. Their drops are not judged: the last window
        is cut short by the end of the input, not by the service."""
        events = [self._event("storm", (k[0], k[1]), k[2], s.count) for k, s in self._open.items() if s.storm]
        self._open.clear()
        self._active.clear()
        return events


def _group_rows(services: list[str], template_ids: np.ndarray, win: np.ndarray, ok: np.ndarray):
    """The rows `ok` grouped by (service, template id, window): [((service, template id, window), rows)].
    One integer key per row, so the grouping is one 1-D sort, not a sort of string or row tuples."""
    names, codes = codes_of(services)
    svc = codes[ok]
    tids, t_code = np.unique(template_ids[ok], return_inverse=True)
    w0 = int(win.min())
    span = int(win.max()) - w0 + 1
    key = (svc * len(tids) + t_code.ravel()) * span + (win - w0)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    bounds = np.flatnonzero(sorted_key[1:] != sorted_key[:-1]) + 1
    uniq = sorted_key[np.concatenate([[0], bounds])]
    out = []
    for k, rows in zip(uniq.tolist(), np.split(ok[order], bounds)):
        pair, w = divmod(k, span)
        s, t = divmod(pair, len(tids))
        out.append(((names[s], int(tids[t]), w0 + w), rows))
    return out


def storm_score(line_threshold: float) -> float:
    """The score a storm record gets at least: just over the line threshold, so it ranks with the flagged."""
    return line_threshold + 1e-3


def make_rate_model(config: RateConfig | None) -> RateModel | None:
    if config is None or not config.enabled:
        return None
    return RateModel(config.window, config.p_value, config.min_count, config.min_ratio, config.drops)
