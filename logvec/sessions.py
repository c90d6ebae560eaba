"""Sessions: lines grouped by a key found in the line (a block id, a request id) or by a time window.

A session is scored on the templates it holds, how many of each, and in what order; its feature row is the
idf-weighted log count of each baseline template (plus one column for templates the baseline never had),
L2-normalized, and its template sequence goes to the detectors that look at order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from logvec.config import SessionConfig
from logvec.detect.base import Sample
from logvec.vectorize.base import Vectors, l2_normalize


@dataclass
class Sessions:
    """Lines grouped by key, in first-seen order; `lines[i]` are the positions of session i's lines."""

    keys: list[str] = field(default_factory=list)
    lines: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def group(cls, keys: list[str]) -> "Sessions":
        where: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if k:
                where.setdefault(k, []).append(i)
        return cls(list(where), [np.asarray(v, dtype=np.int64) for v in where.values()])

    def __len__(self) -> int:
        return len(self.keys)


class SessionFeaturizer:
    """`fit(sequences)` learns the baseline templates and their idf over sessions; `sample(...)` builds the
    detectors' input for a list of sessions."""

    def fit(self, sequences: list[np.ndarray]) -> "SessionFeaturizer":
        n = max(len(sequences), 1)
        present = [np.unique(s) for s in sequences]
        ids, df = np.unique(np.concatenate(present) if present else np.zeros(0, np.int64), return_counts=True)
        self.templates_ = ids
        self.column_ = {int(t): j for j, t in enumerate(ids.tolist())}
        self.idf_ = np.append(np.log((1.0 + n) / (1.0 + df)) + 1.0, np.log(1.0 + n) + 1.0).astype(np.float32)
        return self

    @property
    def dim(self) -> int:
        return len(self.templates_) + 1

    def transform(self, sequences: list[np.ndarray]) -> np.ndarray:
        X = np.zeros((len(sequences), self.dim), dtype=np.float32)
        unknown = self.dim - 1
        for i, seq in enumerate(sequences):
            ids, counts = np.unique(seq, return_counts=True)
            cols = np.array([self.column_.get(int(t), unknown) for t in ids.tolist()], dtype=np.int64)
            np.add.at(X[i], cols, counts)
        np.log1p(X, out=X)
        X *= self.idf_
        return l2_normalize(X)

    def sample(self, keys: list[str], sequences: list[np.ndarray], template_text: Callable[[int], str]) -> Sample:
        names = [f"template {template_text(int(t))!r}" for t in self.templates_] + ["templates unseen in baseline"]
        return Sample(Vectors.from_dense(self.transform(sequences)), sequences, keys, names, template_text,
                      level="session")


@dataclass
class ClosedSession:
    key: str
    record_ids: list[str]
    template_ids: np.ndarray
    first_ts: float
    last_ts: float


class SessionTracker:
    """Open sessions of a running stream. A keyed session closes after `timeout` seconds without a line
    (event time when lines carry timestamps, else wall-clock time); a window session closes once the stream
    is `timeout` past its window's end. `close_all` at the end of the input."""

    def __init__(self, config: SessionConfig) -> None:
        self.timeout = config.timeout  # seconds
        self.window = config.window
        self._open: dict[str, tuple[list[str], list[np.ndarray], float, float, float]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, keys: list[str], ids: list[str], template_ids: np.ndarray, timestamps: np.ndarray,
            now: float) -> list[ClosedSession]:
        """Add a batch; returns the sessions this batch closed."""
        groups = Sessions.group(keys)
        for key, ix in zip(groups.keys, groups.lines):
            ts = timestamps[ix]
            first, last = float(np.fmin.reduce(ts)), float(np.fmax.reduce(ts))  # NaN only when all are
            rids, tids, f0, l0, _ = self._open.get(key, ([], [], math.nan, math.nan, now))
            rids.extend(ids[i] for i in ix.tolist())
            tids.append(template_ids[ix])
            self._open[key] = (rids, tids, float(np.fmin(f0, first)), float(np.fmax(l0, last)), now)
        finite = timestamps[np.isfinite(timestamps)]
        event_now = float(finite.max()) if len(finite) else math.nan
        return self._expire(event_now, now)

    def _expire(self, event_now: float, now: float) -> list[ClosedSession]:
        done = []
        for key, (_, _, first, last, seen) in self._open.items():
            if self.window is not None and not math.isnan(event_now):
                start = float(key.rsplit("@", 1)[1]) if "@" in key else first
                expired = event_now > start + self.window + self.timeout
            elif not math.isnan(event_now) and not math.isnan(last):
                expired = event_now - last > self.timeout
            else:
                expired = now - seen > self.timeout
            if expired:
                done.append(key)
        return [self._close(k) for k in done]

    def _close(self, key: str) -> ClosedSession:
        rids, tids, first, last, _ = self._open.pop(key)
        return ClosedSession(key, rids, np.concatenate(tids), first, last)

    def close_all(self) -> list[ClosedSession]:
        return [self._close(k) for k in list(self._open)]
