"""A batch of parsed log lines, held column by column so that every stage can work on the whole batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


def unique_inverse(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order, and each text's position among them."""
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
    return list(first), inverse


class Coded(list):
    """A column of few distinct values (services, levels) that carries each item's code among them: `names`, in
    first-seen order, and `codes`. Worked out once where the column is made (the text stages' workers), for the
    stages that group rows by it; equal items are one object, so a batch pickles each once."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        self.names, self.codes = unique_inverse(list(items))
        super().__init__([self.names[c] for c in self.codes.tolist()])


def codes_of(column: list[str]) -> tuple[list[str], np.ndarray]:
    """(distinct items in first-seen order, each item's position among them): a `Coded` column's own, else
    worked out here."""
    if isinstance(column, Coded) and len(column.codes) == len(column):
        return column.names, column.codes
    return unique_inverse(column)


@dataclass
class RawBatch:
    """Lines as read: `origin` names where each came from (`file:line` or `topic/partition/offset`)."""

    lines: list[str]
    origins: list[str]
    flags: list[str] = field(default_factory=list)  # per line, "" or comma-separated ("decode_error,truncated")
    meta: list | None = None  # per line, where the source has more (Kafka: the ConsumerRecord: key, time, headers)
    dead: list = field(default_factory=list)  # DeadLetters the source found before parsing
    offsets: dict = field(default_factory=dict)  # source position to commit once this batch is stored
    # the source already found every line non-blank, one line, free of control characters (Kafka checks the
    # joined values it decodes anyway): the parser skips looking for blank lines and binary junk again
    screened: bool = False

    def __post_init__(self) -> None:
        if not self.flags:
            self.flags = [""] * len(self.lines)

    def __len__(self) -> int:
        return len(self.lines)


@dataclass
class RecordBatch:
    """Parsed records. `id` is stable (the origin), so replaying the same input overwrites, never duplicates."""

    ids: list[str]
    messages: list[str]
    timestamps: np.ndarray  # float64 epoch seconds, NaN when unknown
    services: list[str]
    levels: list[str]
    flags: list[str]
    sessions: list[str] = field(default_factory=list)  # session key per record ("" for none)
    masked: list[str] = field(default_factory=list)
    # the distinct masked lines in first-seen order and each record's place among them, when the text stages
    # worked them out (`shapes()` otherwise): the template and vectorize stages work on distinct lines
    masked_unique: list[str] = field(default_factory=list)
    masked_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    template_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    templates: list[str] = field(default_factory=list)
    is_anomaly: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    reasons: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # anomaly kinds, comma-joined ("" for normal records)
    explanations: dict[int, list] = field(default_factory=dict)  # structured reasons of flagged records, by row

    def __len__(self) -> int:
        return len(self.ids)

    def shapes(self) -> tuple[list[str], np.ndarray]:
        """(distinct masked lines in first-seen order, each record's place among them)."""
        if len(self.masked_index) != len(self.masked):
            self.masked_unique, self.masked_index = unique_inverse(self.masked)
        return self.masked_unique, self.masked_index

    @classmethod
    def empty(cls) -> "RecordBatch":
        return cls([], [], np.zeros(0), [], [], [])

    def take(self, idx: np.ndarray | list[int]) -> "RecordBatch":
        """The rows at `idx`, every column that is filled in."""
        idx = np.asarray(idx, dtype=np.int64)
        pick = lambda col: [col[i] for i in idx] if col else []  # noqa: E731
        arr = lambda a: a[idx] if len(a) else a  # noqa: E731
        return RecordBatch(
            ids=pick(self.ids),
            messages=pick(self.messages),
            timestamps=self.timestamps[idx],
            services=pick(self.services),
            levels=pick(self.levels),
            flags=pick(self.flags),
            sessions=pick(self.sessions),
            masked=pick(self.masked),
            template_ids=arr(self.template_ids),
            templates=pick(self.templates),
            is_anomaly=arr(self.is_anomaly),
            scores=arr(self.scores),
            reasons=pick(self.reasons),
            kinds=pick(self.kinds),
        )
