"""A line's severity: its parsed level, or the level its words imply when it has none.

`SeverityWeights` turns it into the weight a line's level adds to its rarity score (config `severity`).

Levels come in many spellings (WARN, WARNING, W, err, CRIT, EMERG, SEVERE, FAILURE…); they are folded into six
grades. A line with no level is graded by its template's words (FATAL, panic, ERROR, exception, failed…), and an
INFO line whose template speaks of failure counts half-way to ERROR: logs often say "failed" at INFO.
"""

from __future__ import annotations

import re

import numpy as np

from logvec.config import SeverityConfig
from logvec.records import codes_of

_LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "d": "debug", "verbose": "debug", "v": "debug",
    "info": "info", "information": "info", "informational": "info", "i": "info",
    "notice": "notice", "n": "notice",
    "warn": "warn", "warning": "warn", "w": "warn",
    "error": "error", "err": "error", "e": "error", "severe": "error", "failure": "error", "fail": "error",
    "critical": "fatal", "crit": "fatal", "fatal": "fatal", "f": "fatal", "alert": "fatal", "emerg": "fatal",
    "emergency": "fatal", "panic": "fatal",
}

# a level written in capitals inside the text: the header of a line no parse pattern took apart
# ("- 1117838570 … RAS KERNEL FATAL data TLB error interrupt") still says its level
_LEVEL_TOKEN = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|SEVERE|FAILURE|CRITICAL|CRIT|FATAL|EMERG|"
                          r"PANIC)\b")

# word stems that say what grade a line without a level is; the first list that matches wins
_FATAL_WORDS = re.compile(r"\b(fatal|panic|panicked|critical|crit|emerg|emergency|segfault|segmentation fault|"
                          r"kernel oops|core dumped|oom[- ]?kill\w*|out of memory)\b", re.IGNORECASE)
_ERROR_WORDS = re.compile(r"\b(error|errors|err|severe|failure|failures|failed|fail|fails|exception|traceback|"
                          r"refused|denied|unreachable|corrupt\w*|timed out|timeout|abort\w*|crash\w*|"
                          r"unavailable|cannot|could not|unable)\b", re.IGNORECASE)
_WARN_WORDS = re.compile(r"\b(warn|warning|deprecated|retry\w*|slow)\b", re.IGNORECASE)


# the grades, least severe first
GRADES = ("debug", "info", "notice", "warn", "error", "fatal")


def level_grade(level: str) -> str | None:
    """The grade of a parsed level, None when the level is empty or unknown."""
    return _LEVELS.get(level.strip().lower()) if level else None


def text_grade(text: str) -> str:
    """The grade a template's words imply."""
    if _FATAL_WORDS.search(text):
        return "fatal"
    if _ERROR_WORDS.search(text):
        return "error"
    if _WARN_WORDS.search(text):
        return "warn"
    return "info"


class SeverityWeights:
    """`weights(levels, template_ids, template_text) -> float per line`, looked up once per distinct
    (level, template) pair: a batch has few of them."""

    def __init__(self, config: SeverityConfig, cache_size: int = 100_000) -> None:
        self.config = config
        self.cache_size = cache_size
        self._cache: dict[tuple[str, str], float] = {}  # (level, template text) -> weight
        self._grades: dict[tuple[str, str], int] = {}  # (level, template text) -> index in GRADES

    def weight(self, grade: str) -> float:
        return float(getattr(self.config, grade))

    def grade(self, level: str, text: str) -> tuple[str, str]:
        """(grade, where it came from: 'level' — parsed, or written in capitals in the text — or 'words')."""
        parsed = level_grade(level)
        if parsed is None:
            token = _LEVEL_TOKEN.search(text)
            parsed = level_grade(token.group(1)) if token else None
        if parsed is None:
            return text_grade(text), "words"
        return parsed, "level"

    def _cached(self, cache: dict, level: str, text: str, compute):
        """compute(level, text), remembered per pair; the cache starts over when it holds `cache_size`."""
        key = (level, text)
        value = cache.get(key)
        if value is None:
            if len(cache) >= self.cache_size:
                cache.clear()
            value = cache[key] = compute(level, text)
        return value

    def line_weight(self, level: str, text: str) -> float:
        return self._cached(self._cache, level, text, self._line_weight)

    def _line_weight(self, level: str, text: str) -> float:
        grade, source = self.grade(level, text)
        w = self.weight(grade)
        if source == "level" and grade in ("debug", "info", "notice") and text_grade(text) in ("error", "fatal"):
            w = max(w, self.weight("error") / 2)  # "INFO ... failed": half-way to ERROR
        return w

    def grade_index(self, level: str, text: str) -> int:
        return self._cached(self._grades, level, text, lambda lv, tx: GRADES.index(self.grade(lv, tx)[0]))

    def weights(self, levels: list[str], template_ids: np.ndarray, template_text) -> np.ndarray:
        return self._per_pair(self.line_weight, levels, template_ids, template_text, np.float64)

    def grades(self, levels: list[str], template_ids: np.ndarray, template_text) -> np.ndarray:
        """Per line, the index of its grade in GRADES."""
        return self._per_pair(self.grade_index, levels, template_ids, template_text, np.int64)

    @staticmethod
    def _per_pair(fn, levels: list[str], template_ids: np.ndarray, template_text, dtype) -> np.ndarray:
        """fn(level, template text) per line, called once per distinct (level, template) pair."""
        if not len(template_ids):
            return np.zeros(0, dtype=dtype)
        names, level_code = codes_of(levels)
        tids, t_code = np.unique(template_ids, return_inverse=True)
        pair, inverse = np.unique(t_code.ravel() * len(names) + level_code, return_inverse=True)
        values = np.array([fn(names[p % len(names)], template_text(int(tids[p // len(names)])))
                           for p in pair.tolist()], dtype=dtype)
        return values[inverse.ravel()]
