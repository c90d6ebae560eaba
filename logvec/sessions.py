"""Sessions: lines grouped by a key found in the line (a block id, a request id) or by a time window.

A session is scored on the templates it holds, how many of each, and in what order; its feature row is the
idf-weighted log count of each baseline template (plus one column for templates the baseline never had),
L2-normalized, and its template sequence goes to the detectors that look at order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from logvec.config import SessionConfig, parse_duration
from logvec.detect.base import Sample
from logvec.vectorize.base import Vectors, l2_normalize


class SessionKeys:
    """The session key of each line: the regex's first group (or whole match) in the raw line, or the
    service and time window; "" when a line belongs to no session."""

    def __init__(self, config: SessionConfig) -> None:
        self.regex = re.compile(config.key) if config.key else None
        self.window = parse_duration(config.window) if config.window else None

    def from_lines(self, lines: list[str]) -> list[str]:
        rx = self.regex
        if rx is None:
            return [""] * len(lines)
        group = 1 if rx.groups else 0
        out = []
        for line in lines:
            m = rx.search(line)
            out.append((m.group(group) or "") if m else "")
        return out

    def from_times(self, timestamps: np.ndarray, services: list[str]) -> list[str]:
        if self.window is None:
            return [""] * len(timestamps)
        w = self.window
        starts = np.floor(timestamps / w) * w
        return [f"{s}@{int(t)}" if not math.isnan(t) else "" for s, t in zip(services, starts.tolist())]


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
