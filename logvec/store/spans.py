"""Where in the records table a time range lies: each write's rowids and the earliest and latest time it stored.

An index on `records(ts)` would answer that too, but a log read out of time order (a day of each host's file
in turn, a replay, a file read again) puts each new entry somewhere else in it, and every write then rewrites
pages all over the index: on a real log repeated (HDFS), more than a third of the store's time. Writes come in
roughly time order, so each write's span of time is narrow and a time range maps to a few runs of rowids
(those of the writes whose span meets it), read by rowid and filtered by time. Data written out of order
makes the runs longer, never a record missed: a record is always inside the span of the last write that
stored it, which holds its rowid and its time.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    first INTEGER NOT NULL,  -- the write's lowest rowid
    last INTEGER NOT NULL,   -- and highest
    min_ts REAL NOT NULL,    -- the earliest time among its records (records without one are in no span)
    max_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_max_ts ON spans(max_ts);
"""
# A time range read as at most this many runs of rowids: past it, the runs closest together are joined (the
# records between them are read and filtered out by time), which keeps the query's size bounded.
MAX_RUNS = 64
# Spans of a store written before there were any: this many rowids to a span.
BUILD_ROWS = 4096


def add(db: sqlite3.Connection, rowids: np.ndarray, timestamps: np.ndarray) -> None:
    """Record the span of a write (inside its transaction): the rowids it stored and their times."""
    timed = ~np.isnan(timestamps)
    if timed.any():
        ts = timestamps[timed]
        db.execute("INSERT INTO spans VALUES (?, ?, ?, ?)",
                   (int(rowids.min()), int(rowids.max()), float(ts.min()), float(ts.max())))


def build(db: sqlite3.Connection) -> None:
    """The spans of a store written with an index on `records(ts)` instead (one pass over its records)."""
    db.execute(f"INSERT INTO spans SELECT MIN(rowid), MAX(rowid), MIN(ts), MAX(ts) FROM records "
               f"WHERE ts IS NOT NULL GROUP BY rowid / {BUILD_ROWS}")


def runs(db: sqlite3.Connection, lo: float, hi: float) -> list[tuple[int, int]]:
    """Runs of rowids (first, last) that hold every record with a time in [lo, hi], at most `MAX_RUNS`."""
    got = np.array(db.execute("SELECT first, last FROM spans WHERE max_ts >= ? AND min_ts <= ?", (lo, hi)).fetchall(),
                   dtype=np.int64).reshape(-1, 2)
    if not len(got):
        return []
    got = got[np.argsort(got[:, 0], kind="stable")]
    ends = np.maximum.accumulate(got[:, 1])
    # a run starts where a span begins past the end of every span before it (with a gap of a rowid at least)
    starts = np.flatnonzero(np.r_[True, got[1:, 0] > ends[:-1] + 1])
    firsts, lasts = got[starts, 0], ends[np.r_[starts[1:] - 1, len(got) - 1]]
    if len(firsts) > MAX_RUNS:  # keep the widest gaps between runs, join across the others
        gaps = firsts[1:] - lasts[:-1]
        keep = np.sort(np.argsort(-gaps, kind="stable")[:MAX_RUNS - 1])
        firsts, lasts = firsts[np.r_[0, keep + 1]], lasts[np.r_[keep, len(lasts) - 1]]
    return list(zip(firsts.tolist(), lasts.tolist()))


def clause(db: sqlite3.Connection, lo: float | None, hi: float | None) -> tuple[str, list[Any]]:
    """An SQL condition on `rowid` (and its parameters) that every record with a time in [lo, hi] meets: to be
    ANDed with the condition on `ts` itself."""
    found = runs(db, -math.inf if lo is None else lo, math.inf if hi is None else hi)
    if not found:
        return "0", []
    return "(" + " OR ".join(["rowid BETWEEN ? AND ?"] * len(found)) + ")", [x for run in found for x in run]


def time_range(db: sqlite3.Connection) -> tuple[float | None, float | None]:
    return db.execute("SELECT MIN(min_ts), MAX(max_ts) FROM spans").fetchone()
