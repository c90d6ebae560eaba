"""The session key of each line, read while parsing: a lean module of its own, so that the text stages'
worker processes (`textstages.py`) import no more than they need."""

from __future__ import annotations

import math
import re

import numpy as np

from logvec.config import PipelineConfig, SessionConfig


class SessionKeys:
    """The session key of each line: the regex's first group (or whole match) in the raw line, or the
    service and time window; "" when a line belongs to no session."""

    def __init__(self, config: SessionConfig) -> None:
        self.regex = re.compile(config.key) if config.key else None
        self.window = config.window  # seconds

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


def session_keys(config: PipelineConfig) -> SessionKeys | None:
    """The pipeline's session keys, None when it has no sessions."""
    return SessionKeys(config.session) if config.session is not None else None
