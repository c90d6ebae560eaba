"""Which records hold each distinct vector, for a search to list a ranked vector's newest records.

An index on `records(vec)` answers that, but costs more than the rows it indexes: a batch's few thousand
records share a few hundred vectors, and each new entry lands in its vector's own part of the index, so every
write rewrites a page per vector (on a million generated lines, a third of the store's time). Here the list
is kept the way a log-structured index keeps it:
* each write appends one `postings_pending` row, the vector of each of its records as one array — one page;
* once `MERGE_RECORDS` records (or `MERGE_WRITES` writes) are pending, the write that sees it merges them into
  `postings`, one row per vector holding its record rowids in that span: a page per vector every few dozen
  batches instead of every batch.
A reader takes a vector's rows from both, newest first. Rowids are only ever added (records are never
deleted), and an entry left behind by a replay that changed a record's vector is harmless: readers check
the record's vector again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS postings (
    vec INTEGER NOT NULL,
    merge INTEGER NOT NULL,  -- the last pending write it took in: read in descending order, newest first
    rowids BLOB NOT NULL,    -- int64, ascending
    PRIMARY KEY (vec, merge)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS postings_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so that merges are numbered in order
    vecs BLOB NOT NULL,                     -- int64, the vector of each record
    rowids BLOB NOT NULL                    -- int64, in the same order
);
"""
MERGE_RECORDS = 65_536
MERGE_WRITES = 64


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.int64).tobytes()


def _array(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.int64)


def add(db: sqlite3.Connection, rowids: np.ndarray, vecs: np.ndarray) -> None:
    """Record that the records at `rowids` hold the vectors `vecs` (inside the write's transaction)."""
    if not len(rowids):
        return
    db.execute("INSERT INTO postings_pending (vecs, rowids) VALUES (?, ?)", (_blob(vecs), _blob(rowids)))
    writes, records = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(length(rowids)), 0) / 8 FROM postings_pending").fetchone()
    if records >= MERGE_RECORDS or writes >= MERGE_WRITES:
        merge(db)


def _grouped(rowids: np.ndarray, vecs: np.ndarray, merge_no: int) -> list[tuple[int, int, bytes]]:
    """(vec, `merge_no`, rowids ascending) for each vector among them."""
    order = np.lexsort((rowids, vecs))
    vecs, rowids = vecs[order], rowids[order]
    starts = np.flatnonzero(np.r_[True, vecs[1:] != vecs[:-1]])
    ends = np.r_[starts[1:], len(vecs)]
    return [(int(vecs[s]), merge_no, rowids[s:e].tobytes()) for s, e in zip(starts, ends)]


def merge(db: sqlite3.Connection) -> None:
    """Move every pending write into `postings` (inside a write transaction)."""
    pending = db.execute("SELECT seq, vecs, rowids FROM postings_pending").fetchall()
    if not pending:
        return
    vecs = np.concatenate([_array(v) for _, v, _ in pending])
    rowids = np.concatenate([_array(r) for _, _, r in pending])
    db.executemany("INSERT INTO postings VALUES (?, ?, ?)", _grouped(rowids, vecs, max(q for q, _, _ in pending)))
    db.execute("DELETE FROM postings_pending")


def build(db: sqlite3.Connection) -> None:
    """The postings of a store written before there were any: every record, merged at once."""
    got = np.array(db.execute("SELECT rowid, vec FROM records").fetchall(), dtype=np.int64).reshape(-1, 2)
    if len(got):
        db.executemany("INSERT INTO postings VALUES (?, ?, ?)", _grouped(got[:, 0], got[:, 1], 0))


class Reader:
    """The rowids of a vector's records, newest first, for one search: the pending writes are read once, when
    first needed."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._pending: tuple[np.ndarray, np.ndarray] | None = None  # (vecs, rowids)

    def _read_pending(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pending is None:
            got = self.db.execute("SELECT vecs, rowids FROM postings_pending").fetchall()
            empty = np.zeros(0, np.int64)
            self._pending = (np.concatenate([_array(v) for v, _ in got]) if got else empty,
                             np.concatenate([_array(r) for _, r in got]) if got else empty)
        return self._pending

    def newest(self, vec: int) -> Iterator[np.ndarray]:
        """Chunks of rowids, each descending, each (but for records a replay wrote again) older than the one
        before."""
        vecs, rowids = self._read_pending()
        recent = np.unique(rowids[vecs == vec])[::-1]
        if len(recent):
            yield recent
        seen = [recent]
        for (blob,) in self.db.execute("SELECT rowids FROM postings WHERE vec = ? ORDER BY merge DESC", (vec,)):
            chunk = _array(blob)[::-1]
            # a record written again (a replay) is listed again, and one merged since the pending writes were read
            # is listed twice: each once
            chunk = chunk[~np.isin(chunk, np.concatenate(seen))]
            if len(chunk):
                seen.append(chunk)
                yield chunk
