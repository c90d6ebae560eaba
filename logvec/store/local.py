"""The embedded vector store: no server, one directory, survives restarts.

Layout of the directory:
* `records.sqlite` — one row per record (metadata, anomaly fields) keyed by the stable record id, so writing
  the same input twice stores it once; each row points at its vector by row number, and at its template,
  whose text is kept once (the latest Drain gave it) in `templates`.
  Beside the rows, two lists kept a write at a time instead of indexes on every row (each says why):
  which records hold each vector (`postings.py`), and each write's span of time (`spans.py`).
* `vectors.f32` — distinct vectors, float32, appended. Log lines repeat their shape, so a million lines
  usually share a few thousand vectors: storing each distinct vector once keeps the store small and the
  search fast. Identity is a hash of the vector's bytes.
* `meta.json` — the dimension and the model version (`model_id`) whose vectors the store holds; vectors of
  another dimension or another fit are refused, never mixed in (a new version gets a fresh data directory).
* `hnsw.faiss` — an HNSW index (faiss), built once the store holds more than `ann_threshold` distinct vectors;
  below that, search is exact.

A filtered search first finds the vectors that have a record passing the filters: from `vec_facets` (each
distinct vector, service and level once) for service and level, along the partial index of anomalous records
for `anomalies_only`, from the rowids of the writes whose time span meets a time range (`spans.py`) — never
by reading every record.

Several processes may write one directory (workers of one consumer group on one machine): each write is one
SQLite `BEGIN IMMEDIATE` transaction, and new vectors are appended to `vectors.f32` only while it is held, at
the row count the database has committed, so rows are never interleaved or lost. The write-ahead log is copied
back into `records.sqlite` by a thread of the writing process (`checkpointer.py`), never by a commit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from logvec.atomic import replaced
from logvec.filelock import FileLock
from logvec.incidents.feedback import NormalMark
from logvec.incidents.incident import Anomaly, Incident
from logvec.records import RecordBatch
from logvec.store import postings, spans
from logvec.store.base import (
    MAX_ANOMALIES,
    Hit,
    SearchFilters,
    SessionRow,
    StoreCorruptError,
    StoreDimensionError,
    StoreModelError,
    epoch,
    histogram_series,
    split_kinds,
)
from logvec.store.checkpointer import Checkpointer
from logvec.vectorize.base import Vectors

if TYPE_CHECKING:
    from logvec.deadletter import DeadLetter
    from logvec.detect.rate import RateEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    ts REAL,
    service TEXT,
    level TEXT,
    message TEXT,
    template TEXT,
    template_id INTEGER,
    vec INTEGER NOT NULL,
    is_anomaly INTEGER NOT NULL DEFAULT 0,
    anomaly_score REAL,
    reason TEXT,
    flags TEXT,
    anomaly_kinds TEXT,
    writes INTEGER NOT NULL DEFAULT 1  -- times this id was stored: above 1, a redelivery or a rerun
);
CREATE INDEX IF NOT EXISTS records_anomalous_vec ON records(vec) WHERE is_anomaly = 1;
CREATE INDEX IF NOT EXISTS records_anomalous_ts ON records(ts) WHERE is_anomaly = 1;
CREATE TABLE IF NOT EXISTS vecs (hash BLOB PRIMARY KEY, row INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS vecs_row ON vecs(row);
CREATE TABLE IF NOT EXISTS vec_facets (
    service TEXT NOT NULL,  -- '' for none
    level TEXT NOT NULL,
    vec INTEGER NOT NULL,
    PRIMARY KEY (service, level, vec)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS templates (template_id INTEGER PRIMARY KEY, template TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,
    first_ts REAL,
    last_ts REAL,
    lines INTEGER NOT NULL,
    is_anomaly INTEGER NOT NULL,
    anomaly_score REAL,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS rate_events (
    key TEXT PRIMARY KEY,  -- kind|service|template|window start: a replayed window overwrites its event
    kind TEXT NOT NULL,    -- storm | drop
    service TEXT,
    template_id INTEGER,
    template TEXT,
    window_start REAL,
    window_seconds REAL,
    expected REAL,
    observed INTEGER,
    p_value REAL
);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    model_id TEXT,
    doc TEXT NOT NULL,  -- the incident as JSON (Incident.to_doc)
    signature BLOB      -- float32
);
CREATE INDEX IF NOT EXISTS incidents_start ON incidents(start);
CREATE TABLE IF NOT EXISTS feedback (key TEXT PRIMARY KEY, doc TEXT NOT NULL);  -- templates marked normal
"""

# A replayed record (same id) overwrites the stored one and counts one more write, so that a message processed
# twice shows (`stats()["redeliveries"]`) instead of vanishing into the primary key.
_UPSERT_INTO = """
INSERT INTO records (id, ts, service, level, message, template, template_id, vec, is_anomaly,
                     anomaly_score, reason, flags, anomaly_kinds)
VALUES """
_ON_CONFLICT = """
ON CONFLICT(id) DO UPDATE SET ts = excluded.ts, service = excluded.service, level = excluded.level,
    message = excluded.message, template = excluded.template, template_id = excluded.template_id,
    vec = excluded.vec, is_anomaly = excluded.is_anomaly, anomaly_score = excluded.anomaly_score,
    reason = excluded.reason, flags = excluded.flags, anomaly_kinds = excluded.anomaly_kinds,
    writes = records.writes + 1"""
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT = _UPSERT_INTO + _ROW + _ON_CONFLICT
# Rows go in `ROWS_PER_INSERT` to a statement, their values bound from one flat list: executemany binds and
# steps a row at a time, which costs a sixth again of what SQLite spends on the row. SQLite before 3.32 allows
# only 999 values a statement: there, and wherever a build lowered the limit, rows go one by one.
ROWS_PER_INSERT = 1000
_UPSERT_MANY = _UPSERT_INTO + ", ".join([_ROW] * ROWS_PER_INSERT) + _ON_CONFLICT

# Records sharing the vector a search ranks are read most recently stored first (from `postings.py`'s lists,
# or the partial index of anomalous records), this many at most, and the one whose message equals the query's
# is put first among them: the search costs the same whether a shape was seen ten times or ten million.
TIE_WINDOW = 1000
# `neighbours` looks for a record's neighbours this far on each side first, then 16 times as far, and so on
NEIGHBOUR_WINDOW_S = 60.0

# `_vector_rows` remembers the row of this many keys at most (then starts again): about 30 MiB of masked lines
KEY_ROWS = 200_000
# The writer checkpoints only when the checkpointer thread falls this far behind (256 MiB of log).
WAL_SAFETY_PAGES = 65536
_COLUMNS = ("id, ts, service, level, message, template, template_id, is_anomaly, anomaly_score, reason, flags, "
            "anomaly_kinds")
# a flag added to stored records: set it, add the note to the reason and the kind to the kinds
_FLAG_RECORD = ("UPDATE records SET is_anomaly = 1, "
                "reason = CASE WHEN reason IS NULL OR reason = '' THEN ? ELSE reason || ' | ' || ? END, "
                "anomaly_kinds = CASE WHEN anomaly_kinds IS NULL OR anomaly_kinds = '' THEN ? "
                "ELSE anomaly_kinds || ',' || ? END WHERE id = ?")


def _tied_anomalies_sql(where: str) -> str:
    """The anomalous records of one vector row that pass the filters: the `TIE_WINDOW` stored last, read
    backwards along the partial index of anomalous records, then the one with the query's message first and
    the newest. Parameters: the row, the filters' values, the window, the message, how many."""
    return (f"SELECT * FROM (SELECT {_COLUMNS} FROM records WHERE vec = ? AND {where}"
            " ORDER BY rowid DESC LIMIT ?) ORDER BY (message = ?) DESC, ts DESC LIMIT ?")


def _tied_first(rows: list[tuple], message: str, window: int) -> list[tuple]:
    """Rows of `_COLUMNS` plus rowid: the `window` stored last, the one with `message` first, then the newest
    (what `_tied_anomalies_sql` orders in SQL)."""
    newest = sorted(rows, key=lambda r: -r[-1])[:window]
    return [r[:-1] for r in sorted(newest, key=lambda r: (r[4] != message, -math.inf if r[1] is None else -r[1]))]


def _row_hash(row: np.ndarray) -> bytes:
    return hashlib.blake2b(row.tobytes(), digest_size=16).digest()


class LocalStore:
    def __init__(self, path: str | Path, ann_threshold: int = 50_000, hnsw_m: int = 32, ef_search: int = 128,
                 checkpoint_interval_s: float = 2.0):
        self.path = Path(path)
        self.ann_threshold = ann_threshold
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._checkpointer = Checkpointer(self.path / "records.sqlite", checkpoint_interval_s)
        # autocommit: every write opens its own BEGIN IMMEDIATE (see `_write`); other writers wait their turn
        self._db = sqlite3.connect(self.path / "records.sqlite", check_same_thread=False, timeout=120,
                                   isolation_level=None)
        with FileLock(self.path / "open.lock"):  # switching to WAL fails at once, not after a wait, if raced
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._write():
                had_facets, had_postings, had_spans = (self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
                    for name in ("vec_facets", "postings", "spans"))
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(records)")}
                if columns and "anomaly_kinds" not in columns:  # a store written before records had kinds
                    self._db.execute("ALTER TABLE records ADD COLUMN anomaly_kinds TEXT")
                if columns and "writes" not in columns:  # ... or counted their writes
                    self._db.execute("ALTER TABLE records ADD COLUMN writes INTEGER NOT NULL DEFAULT 1")
                for statement in (_SCHEMA + postings.SCHEMA + spans.SCHEMA).split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                if not had_postings:  # a store written with an index on records(vec) instead (one pass)
                    postings.build(self._db)
                    self._db.execute("DROP INDEX IF EXISTS records_vec")
                if not had_spans:  # ... and on records(ts)
                    spans.build(self._db)
                    self._db.execute("DROP INDEX IF EXISTS records_ts")
                if not had_facets:  # a store written before the table existed (one pass over its records)
                    self._db.execute("INSERT OR IGNORE INTO vec_facets SELECT DISTINCT COALESCE(service, ''), "
                                     "COALESCE(level, ''), vec FROM records")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._statement_rows = ROWS_PER_INSERT if (
            self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) >= ROWS_PER_INSERT * _ROW.count("?")) else 0
        # the log is copied back by a thread (see checkpointer.py), not by the commit that fills it
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_PAGES}")
        self.dim: int | None = self._read_dim()
        self.model_id: str | None = None  # the model whose vectors this process writes (`use_model`)
        self._checked_model: str | None = None  # ... as checked against meta.json
        self._hashes: dict[bytes, int] = dict(self._db.execute("SELECT hash, row FROM vecs"))
        self._key_rows: dict[str, int] = {}  # see `_vector_rows`
        self._n_vectors = len(self._hashes)
        self._facets: set[tuple[str, str, int]] = set()  # written by this process (others' are ignored on insert)
        self._template_texts: dict[int, str] = {}  # the same for template texts
        self._matrix: np.ndarray | None = None
        self._index: Any = None  # a faiss index once searched (faiss has no usable types)

    # ------------------------------------------------------------ writes
    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, holding the database's write lock from its first statement. Writers queue
        on a file lock first: the kernel wakes the next one the moment it is free, where SQLite's own busy
        wait sleeps up to 100 ms between tries, which leaves the store idle while writers queue."""
        with FileLock(self.path / "write.lock"):
            changes = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        if self._db.total_changes != changes:  # rows written (creating the tables is not a reason)
            self._checkpointer.notify()

    def _meta(self) -> dict:
        meta_path = self.path / "meta.json"
        return json.loads(meta_path.read_text()) if meta_path.exists() else {}

    def _read_dim(self) -> int | None:
        return self._meta().get("dim")

    def use_model(self, model_id: str | None) -> None:
        if model_id != self.model_id:  # another model: other vectors for the same keys
            self._key_rows.clear()
        self.model_id = model_id

    def activate_model(self, model_id: str, dim: int) -> None:
        """Refuse, before anything moves, a version whose vectors this store could not take."""
        self._check_model(self._meta(), model_id, dim)

    def _check_model(self, meta: dict, model_id: str | None, dim: int) -> None:
        held = meta.get("model_id")
        if model_id and held and held != model_id and self.count():
            raise StoreModelError(
                f"the store at {self.path} holds {self.count():,} records vectorized by model {held}; model "
                f"{model_id}'s vectors would not compare with them. Give the new version its own data directory "
                "(--data-dir), or keep the old one active")
        if meta.get("dim") is not None and dim != meta["dim"]:
            raise StoreDimensionError(
                f"the store at {self.path} holds {meta['dim']}-dimensional vectors but these are {dim}-dimensional "
                "(another vectorizer or model); use another data directory or delete this store")

    def _committed_vectors(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(row) + 1, 0) FROM vecs").fetchone()[0]

    def _check_dim(self, dim: int) -> int:
        """Called with the write lock held, so that two writers of a fresh store agree on one dimension;
        returns it."""
        if self.dim is not None and dim == self.dim and self._checked_model == self.model_id:
            return dim
        meta = self._meta()
        self._check_model(meta, self.model_id, dim)
        if meta.get("dim") is None or (self.model_id and meta.get("model_id") != self.model_id):
            with replaced(self.path / "meta.json") as tmp:
                tmp.write_text(json.dumps({"dim": dim, "format": 1, "model_id": self.model_id}))
        self.dim, self._checked_model = dim, self.model_id
        return dim

    def _vector_rows(self, rows: np.ndarray, dim: int, keys: list[str] | None) -> np.ndarray:
        """The store row of each vector, appending the ones never stored (write lock held); a row whose key
        (`Vectors.keys`) this process met before is not hashed again."""
        found = np.full(len(rows), -1, dtype=np.int64)
        if keys is not None and self._key_rows:
            found = np.fromiter((self._key_rows.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        todo = np.flatnonzero(found < 0)
        if len(todo):
            found[todo] = self._hashed_rows(rows[todo] if len(todo) < len(rows) else rows, dim)
            if keys is not None:
                if len(self._key_rows) + len(todo) > KEY_ROWS:
                    self._key_rows.clear()
                self._key_rows.update(zip([keys[i] for i in todo.tolist()], found[todo].tolist()))
        return found

    def _hashed_rows(self, rows: np.ndarray, dim: int) -> np.ndarray:
        """`_vector_rows` by each vector's hash."""
        hashes = [_row_hash(row) for row in rows]
        unknown = list({h for h in hashes if h not in self._hashes})
        if unknown:  # maybe written by another process since we last looked
            for start in range(0, len(unknown), 500):
                chunk = unknown[start:start + 500]
                self._hashes.update(self._db.execute(
                    f"SELECT hash, row FROM vecs WHERE hash IN ({','.join('?' * len(chunk))})", chunk))
        row_of = np.empty(len(rows), dtype=np.int64)
        n = self._committed_vectors() if unknown else self._n_vectors
        new_rows: list[int] = []
        new_hashes: list[tuple[bytes, int]] = []
        for i, h in enumerate(hashes):
            r = self._hashes.get(h)
            if r is None:
                r = n + len(new_rows)
                self._hashes[h] = r
                new_rows.append(i)
                new_hashes.append((h, r))
            row_of[i] = r
        if new_rows:
            with open(self.path / "vectors.f32", "ab") as f:
                size = f.seek(0, os.SEEK_END)
                if size < n * dim * 4:
                    raise StoreCorruptError(f"{self.path / 'vectors.f32'} holds {size // (dim * 4)} vectors but "
                                            f"records.sqlite knows {n}: the store is damaged")
                f.truncate(n * dim * 4)  # drop rows a crash left behind without their table entries
                f.write(rows[new_rows].tobytes())
                f.flush()
                os.fsync(f.fileno())
            self._db.executemany("INSERT INTO vecs(hash, row) VALUES (?, ?)", new_hashes)
        self._n_vectors = n + len(new_rows)
        return row_of

    def _insert(self, columns: list[list]) -> np.ndarray:
        """Upsert records given column by column, in `_UPSERT`'s order (write lock held): whole statements of
        `ROWS_PER_INSERT`, their values laid out row after row by one slice assignment a column, the rest one
        by one. Returns their rowids."""
        ids, width = columns[0], len(columns)
        flat: list[Any] = [None] * (len(ids) * width)
        for j, column in enumerate(columns):
            flat[j::width] = column
        before = self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM records").fetchone()[0]
        n, whole = self._statement_rows, 0
        if n:
            whole = len(ids) - len(ids) % n
            for start in range(0, whole, n):
                self._db.execute(_UPSERT_MANY, flat[start * width:(start + n) * width])
        self._db.executemany(_UPSERT, [flat[i:i + width] for i in range(whole * width, len(flat), width)])
        after = self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM records").fetchone()[0]
        if after - before == len(ids):  # every row new: SQLite numbers them on from the largest rowid
            return np.arange(before + 1, after + 1, dtype=np.int64)
        rowid_of = dict(self._db.execute(  # some were stored before (a replay) and kept their rowid
            "SELECT id, rowid FROM records WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)))
        return np.array([rowid_of[i] for i in ids], dtype=np.int64)

    def upsert(self, records: RecordBatch, vectors: Vectors) -> list[DeadLetter]:
        """Write the batch; durable when this returns. Returns the records refused (never any here)."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        if not len(records):
            return []
        rows = np.ascontiguousarray(vectors.rows, dtype=np.float32)
        n = len(records)
        ts = records.timestamps.astype(object)
        ts[np.isnan(records.timestamps)] = None
        anomalies = records.is_anomaly.astype(np.int64).tolist() if len(records.is_anomaly) else [0] * n
        scores = records.scores.tolist() if len(records.scores) else [None] * n
        reasons = records.reasons or [""] * n
        kinds = records.kinds or [""] * n
        texts_apart = bool(len(records.template_ids))  # each template's text once, in `templates`
        tids: list[Any] = records.template_ids.tolist() if texts_apart else [None] * n
        texts = records.templates or [""] * n
        templates = [None] * n if texts_apart else texts  # the rows' own column: only without template ids
        with self._lock:
            try:
                with self._write():
                    vec_rows = self._vector_rows(rows, self._check_dim(vectors.dim), vectors.keys)[vectors.index]
                    vec = vec_rows.tolist()
                    rowids = self._insert([records.ids, ts.tolist(), records.services, records.levels,
                                           records.messages, templates, tids, vec, anomalies, scores, reasons,
                                           records.flags, kinds])
                    postings.add(self._db, rowids, vec_rows)
                    spans.add(self._db, rowids, records.timestamps)
                    facets = self._new_facets(records.services, records.levels, vec)
                    new_texts = self._new_template_texts(tids, texts) if texts_apart else {}
            except BaseException:  # rolled back: forget the rows this write had handed out
                self._key_rows.clear()
                self._hashes = dict(self._db.execute("SELECT hash, row FROM vecs"))
                self._n_vectors = len(self._hashes)
                raise
            self._facets |= facets
            self._template_texts.update(new_texts)
        return []

    def _new_template_texts(self, tids: list[int], texts: list[str]) -> dict[int, str]:
        """Write each template's text where this process has not written it, or wrote another (Drain
        generalises a template as it goes) — write lock held; returns them, to remember once committed."""
        new = {t: x for t, x in dict(zip(tids, texts)).items() if self._template_texts.get(t) != x}
        if new:
            self._db.executemany("INSERT OR REPLACE INTO templates VALUES (?, ?)", list(new.items()))
        return new

    def _new_facets(self, services: list, levels: list, vec: list[int]) -> set[tuple[str, str, int]]:
        """Add the batch's (service, level, vector) combinations this process has not written (write lock
        held); returns them, to remember once the transaction is committed."""
        new = set(zip(services, levels, vec)) - self._facets
        if new:
            self._db.executemany("INSERT OR IGNORE INTO vec_facets VALUES (?, ?, ?)",
                                 [(s or "", lv or "", v) for s, lv, v in new])
        return new

    def upsert_sessions(self, rows: list[SessionRow]) -> None:
        """Write session verdicts; the records of an anomalous session are flagged with its reason too."""
        if not rows:
            return
        with self._lock, self._write():
            self._db.executemany(
                "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.key, None if math.isnan(r.first_ts) else r.first_ts, None if math.isnan(r.last_ts) else r.last_ts,
                  len(r.record_ids), int(r.is_anomaly), r.score, r.reason) for r in rows])
            for r in rows:
                if r.is_anomaly:
                    note = f"session {r.key}: {r.reason}"
                    kinds = ",".join(["session"] + [k for k in r.kinds.split(",") if k])
                    self._db.executemany(_FLAG_RECORD, [(note, note, kinds, kinds, rid) for rid in r.record_ids])

    def flag_records(self, rows: list[tuple[str, str]], kind: str) -> None:
        """Flag stored records after the fact, (id, reason) each: the records of a storm window read before
        the storm showed."""
        if not rows:
            return
        with self._lock, self._write():
            self._db.executemany(_FLAG_RECORD, [(why, why, kind, kind, rid) for rid, why in rows])

    def upsert_rate_events(self, events: list[RateEvent]) -> None:
        if not events:
            return
        with self._lock, self._write():
            self._db.executemany(
                "INSERT OR REPLACE INTO rate_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(e.key, e.kind, e.service, e.template_id, e.template, e.window_start, e.window_seconds, e.expected,
                  e.observed, e.p_value) for e in events])

    def rate_events(self, kind: str | None = None, limit: int = 100) -> list[dict]:
        """Rate events, latest window first."""
        sql = ("SELECT kind, service, template_id, template, window_start, window_seconds, expected, observed, "
               "p_value FROM rate_events" + (" WHERE kind = ?" if kind else "") + " ORDER BY window_start DESC LIMIT ?")
        cols = ("kind", "service", "template_id", "template", "window_start", "window_seconds", "expected",
                "observed", "p_value")
        return [dict(zip(cols, r)) for r in self._db.execute(sql, ((kind,) if kind else ()) + (limit,))]

    def sessions(self, anomalies_only: bool = False, limit: int = 100) -> list[dict]:
        sql = "SELECT key, first_ts, last_ts, lines, is_anomaly, anomaly_score, reason FROM sessions"
        sql += " WHERE is_anomaly = 1" if anomalies_only else ""
        sql += " ORDER BY anomaly_score DESC LIMIT ?"
        cols = ("key", "first_ts", "last_ts", "lines", "is_anomaly", "anomaly_score", "reason")
        return [dict(zip(cols, row)) for row in self._db.execute(sql, (limit,))]

    def session(self, key: str) -> dict | None:
        cols = ("key", "first_ts", "last_ts", "lines", "is_anomaly", "anomaly_score", "reason")
        row = self._db.execute(f"SELECT {', '.join(cols)} FROM sessions WHERE key = ?", (key,)).fetchone()
        return dict(zip(cols, row)) if row else None

    def lines_between(self, since: float, until: float, service: str | None = None, contains: str | None = None,
                      limit: int = 500) -> list[Hit]:
        """Records with a time in [since, until] (in the writes whose span meets it), of `service`, whose message
        holds `contains`, in time order."""
        rows_in, args = spans.clause(self._db, since, until)
        sql = f"SELECT {_COLUMNS} FROM records WHERE {rows_in} AND ts >= ? AND ts <= ?"
        args += [since, until]
        if service is not None:
            sql += " AND service = ?"
            args.append(service)
        if contains:
            sql += " AND instr(message, ?) > 0"
            args.append(contains)
        rows = self._db.execute(sql + " ORDER BY ts, rowid LIMIT ?", [*args, limit]).fetchall()
        return self._with_template_texts([Hit.from_row(r, 0.0) for r in rows])

    # ------------------------------------------------------------ incidents
    def anomalies(self, since: float | None = None, until: float | None = None,
                  limit: int = MAX_ANOMALIES) -> list[Anomaly]:
        """Anomalous records with a time in [since, until], and rate drops, in time order (along the partial
        index of anomalous records: never a pass over all records)."""
        lo = -math.inf if since is None else since
        hi = math.inf if until is None else until
        rows = self._db.execute(
            "SELECT r.id, r.ts, r.service, r.template_id, COALESCE(NULLIF(r.template, ''), t.template), r.message, "
            "r.anomaly_kinds, r.anomaly_score FROM records r LEFT JOIN templates t ON t.template_id = r.template_id "
            "WHERE r.is_anomaly = 1 AND r.ts >= ? AND r.ts <= ? ORDER BY r.ts LIMIT ?", (lo, hi, limit)).fetchall()
        out = [Anomaly(rid, ts, service or "", tid, template or "", message or "", split_kinds(kinds), score)
               for rid, ts, service, tid, template, message, kinds, score in rows]
        drops = self._db.execute(
            "SELECT key, window_start, service, template_id, template, expected, observed, window_seconds "
            "FROM rate_events WHERE kind = 'drop' AND window_start >= ? AND window_start <= ? ORDER BY window_start",
            (lo, hi)).fetchall()
        out += [Anomaly(f"event:{key}", ts, service or "", tid, template or "",
                        f"{observed} lines of {template!r} in {seconds:g}s, expected {expected:.3g}", ["rate_drop"])
                for key, ts, service, tid, template, expected, observed, seconds in drops]
        out.sort(key=lambda a: (a.ts, a.id))
        return out

    def upsert_incidents(self, incidents: list[Incident], delete: list[str] | tuple[str, ...] = ()) -> None:
        """Write incidents (an id written again is replaced) and delete those of `delete`, in one transaction."""
        if not incidents and not delete:
            return
        with self._lock, self._write():
            if delete:
                self._db.executemany("DELETE FROM incidents WHERE id = ?", [(i,) for i in delete])
            self._db.executemany(
                "INSERT OR REPLACE INTO incidents VALUES (?, ?, ?, ?, ?, ?)",
                [(i.id, i.start, i.end, i.model_id, json.dumps(i.to_doc()),
                  None if i.signature is None else np.asarray(i.signature, dtype=np.float32).tobytes())
                 for i in incidents])

    def delete_incidents(self) -> int:
        with self._lock, self._write():
            return self._db.execute("DELETE FROM incidents").rowcount

    def incidents(self, since: float | None = None, until: float | None = None, limit: int = 100,
                  signatures: bool = False) -> list[Incident]:
        """Incidents that overlap [since, until], the latest first."""
        lo = -math.inf if since is None else since
        hi = math.inf if until is None else until
        rows = self._db.execute(
            f'SELECT doc, {"signature" if signatures else "NULL"} FROM incidents WHERE "end" >= ? AND start <= ? '
            "ORDER BY start DESC, id LIMIT ?", (lo, hi, limit)).fetchall()
        return [Incident.from_doc(json.loads(doc), None if sig is None else np.frombuffer(sig, dtype=np.float32))
                for doc, sig in rows]

    def incident(self, incident_id: str) -> Incident | None:
        row = self._db.execute("SELECT doc, signature FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            return None
        return Incident.from_doc(json.loads(row[0]), None if row[1] is None else np.frombuffer(row[1], np.float32))

    def time_range(self) -> tuple[float | None, float | None]:
        """The first and last record time stored (from the writes' spans)."""
        return spans.time_range(self._db)

    def template_texts(self) -> list[str]:
        """Every distinct template text stored."""
        return [t for (t,) in self._db.execute("SELECT DISTINCT template FROM templates")]

    def records(self, ids: list[str]) -> list[Hit]:
        """The stored records of these ids (those there are), in the order asked."""
        found: dict[str, Hit] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for r in self._db.execute(f"SELECT {_COLUMNS} FROM records WHERE id IN ({','.join('?' * len(chunk))})",
                                      chunk):
                found[r[0]] = Hit.from_row(r, 0.0)
        return self._with_template_texts([found[i] for i in ids if i in found])

    def neighbours(self, hit: Hit, before: int, after: int) -> list[Hit]:
        """The records of the same service just before and after `hit` in time (when its source cannot say
        what came before it), in time order."""
        ts = epoch(hit.timestamp)
        if ts is None:
            return []
        rows = (self._nearest(ts, hit, before, earlier=True) if before > 0 else []) + (
            self._nearest(ts, hit, after, earlier=False) if after > 0 else [])
        hits = sorted((Hit.from_row(r, 0.0) for r in rows), key=lambda h: h.timestamp or "")
        return self._with_template_texts(hits)

    def _nearest(self, ts: float, hit: Hit, n: int, earlier: bool) -> list[tuple]:
        """The `n` records of `hit`'s service nearest before (after) `ts`, looked for in a window of time that
        widens until it holds them or the whole store."""
        lo, hi = self.time_range()
        width = NEIGHBOUR_WINDOW_S
        while True:
            since, until = (ts - width, ts) if earlier else (ts, ts + width)
            rows_in, args = spans.clause(self._db, since, until)
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE {rows_in} AND ts >= ? AND ts <= ? AND service = ? "
                f"AND id != ? ORDER BY ts {'DESC' if earlier else ''} LIMIT ?",
                [*args, since, until, hit.service, hit.id, n]).fetchall()
            if len(rows) >= n or lo is None or hi is None or (since <= lo if earlier else until >= hi):
                return rows
            width *= 16

    def histogram(self, since: float, until: float, buckets: int) -> dict[str, Any]:
        """Lines and anomalies per service in `buckets` equal spans of [since, until] (in the writes whose span
        meets it)."""
        width = max((until - since) / buckets, 1e-3)
        rows_in, args = spans.clause(self._db, since, until)
        rows = self._db.execute(
            "SELECT CAST((ts - ?) / ? AS INTEGER) AS b, COALESCE(service, ''), COUNT(*), SUM(is_anomaly) "
            f"FROM records WHERE {rows_in} AND ts >= ? AND ts < ? GROUP BY b, 2",
            (since, width, *args, since, until)).fetchall()
        return histogram_series(rows, since, width, buckets)

    def upsert_feedback(self, marks: list[NormalMark], delete: list[str] | tuple[str, ...] = ()) -> None:
        with self._lock, self._write():
            self._db.executemany("DELETE FROM feedback WHERE key = ?", [(k,) for k in delete])
            self._db.executemany("INSERT OR REPLACE INTO feedback VALUES (?, ?)",
                                 [(m.key, json.dumps(m.to_dict())) for m in marks])

    def feedback(self) -> list[NormalMark]:
        return [NormalMark.from_dict(json.loads(doc)) for (doc,) in
                self._db.execute("SELECT doc FROM feedback ORDER BY rowid")]

    # ------------------------------------------------------------ reads
    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def _refresh(self) -> None:
        """Other processes may have written since: take the committed vector count (and dimension)."""
        self._n_vectors = self._committed_vectors()
        if self.dim is None:
            self.dim = self._read_dim()

    def problems(self, thorough: bool = False) -> list[str]:
        """What is wrong with the store's files, each said in a sentence ([] when nothing): the dimension
        missing, the vector file shorter than the table says; `thorough` also runs SQLite's integrity check and
        reads every vector (each is of unit length or zero; random bytes are not)."""
        self._refresh()
        out = self._file_problems()
        if not thorough:
            return out
        verdict = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            out.append(f"{self.path / 'records.sqlite'} fails SQLite's integrity check: {verdict}")
        if self.dim and not out:
            matrix = self._vectors()
            bad = 0
            for start in range(0, len(matrix), 65536):
                norms = np.linalg.norm(np.asarray(matrix[start:start + 65536], dtype=np.float64), axis=1)
                bad += int(np.sum(~(np.isclose(norms, 1.0, atol=1e-3) | (norms == 0))))
            if bad:
                out.append(f"{self.path / 'vectors.f32'}: {bad} of {len(matrix)} vectors are not of unit length "
                           "(overwritten or damaged bytes)")
        return out

    def _file_problems(self) -> list[str]:
        """`problems()` without looking again at what other processes committed (the caller just did)."""
        out = []
        if self._n_vectors and self.dim is None:
            out.append(f"{self.path / 'meta.json'} is missing: the {self._n_vectors} stored vectors have no dimension")
        vec_file = self.path / "vectors.f32"
        size = vec_file.stat().st_size if vec_file.exists() else 0
        if self.dim and size < self._n_vectors * self.dim * 4:
            out.append(f"{vec_file} holds {size // (self.dim * 4)} vectors but records.sqlite knows "
                       f"{self._n_vectors}: the file was cut short")
        return out

    def stats(self) -> dict:
        self._refresh()
        records, templates, anomalies, writes = self._db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT template_id), COALESCE(SUM(is_anomaly), 0), COALESCE(SUM(writes), 0) "
            "FROM records").fetchone()
        sessions, session_anomalies = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(is_anomaly), 0) FROM sessions").fetchone()
        rate_events = self._db.execute("SELECT COUNT(*) FROM rate_events").fetchone()[0]
        return {"problems": self._file_problems(), "records": records, "redeliveries": writes - records,
                "templates": templates, "anomalies": anomalies, "sessions": sessions,
                "session_anomalies": session_anomalies, "rate_events": rate_events,
                "distinct_vectors": self._n_vectors, "dim": self.dim, "model_id": self._meta().get("model_id"),
                "path": str(self.path)}

    def _vectors(self) -> np.ndarray:
        if self._matrix is None or len(self._matrix) != self._n_vectors:
            if not self._n_vectors:
                return np.zeros((0, self.dim or 0), dtype=np.float32)
            problems, dim = self._file_problems(), self.dim
            if problems or dim is None:
                raise StoreCorruptError("the store is damaged: " + "; ".join(problems) + " (logvec doctor)")
            self._matrix = np.memmap(self.path / "vectors.f32", dtype=np.float32, mode="r",
                                     shape=(self._n_vectors, dim))
        return self._matrix

    def _hnsw(self) -> Any:
        """The HNSW index over every distinct vector, extended with rows added since it was saved."""
        import faiss

        matrix = self._vectors()
        index_path = self.path / "hnsw.faiss"
        index = self._index
        if index is None and index_path.exists():
            index = faiss.read_index(str(index_path))
        if index is None:
            index = faiss.IndexHNSWFlat(matrix.shape[1], self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        if index.ntotal < len(matrix):
            index.add(np.ascontiguousarray(matrix[index.ntotal:]))
            with replaced(index_path) as tmp:  # readers in other processes see whole files
                faiss.write_index(index, str(tmp))
        self._index = index
        return index

    def _where(self, f: SearchFilters) -> tuple[str, list]:
        clauses: list[str] = []
        args: list[Any] = []
        if f.service:
            clauses.append("service = ?")
            args.append(f.service)
        if f.level:
            clauses.append("level = ?")
            args.append(f.level.upper())
        if f.since is not None or f.until is not None:
            rows_in, rows_args = spans.clause(self._db, f.since, f.until)
            clauses.append(rows_in)
            args += rows_args
        if f.since is not None:
            clauses.append("ts >= ?")
            args.append(f.since)
        if f.until is not None:
            clauses.append("ts <= ?")
            args.append(f.until)
        if f.anomalies_only or f.kind:
            clauses.append("is_anomaly = 1")
        if f.kind:
            clauses.append("(',' || anomaly_kinds || ',') LIKE ?")
            args.append(f"%,{f.kind},%")
        return (" AND ".join(clauses), args)

    def _candidate_rows(self, f: SearchFilters, where: str, args: list) -> np.ndarray:
        """The vector rows that have a record passing the filters."""
        return np.array([r for (r,) in self._db.execute(self._candidate_sql(f, where), args)], dtype=np.int64)

    @staticmethod
    def _candidate_sql(f: SearchFilters, where: str) -> str:
        """Service and level alone are looked up in `vec_facets`: a combination a replay changed may linger
        there, but the records of each row are filtered again, so a row too many costs a lookup, never a
        wrong hit."""
        # the records themselves: few when anomalous (the partial index of anomalous ones), or in a time range
        # (the runs of rowids of the writes in it)
        on_records = f.anomalies_only or f.kind or f.since is not None or f.until is not None
        return f"SELECT DISTINCT vec FROM {'records' if on_records else 'vec_facets'} WHERE {where}"

    def _rank_rows(self, query: np.ndarray, candidates: np.ndarray | None, want: int) -> tuple[np.ndarray, np.ndarray]:
        """Vector rows best first with their cosine similarity (exact while small, HNSW beyond)."""
        n = self._n_vectors if candidates is None else len(candidates)
        if n <= self.ann_threshold:
            matrix = self._vectors()
            sub = matrix if candidates is None else matrix[candidates]
            sims = sub @ query
            order = np.argsort(-sims, kind="stable")[:want]
            rows = order if candidates is None else candidates[order]
            return rows, sims[order]
        import faiss

        index = self._hnsw()
        params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]  # made by SWIG, not in the stubs
            efSearch=max(self.ef_search, want))
        if candidates is not None:
            params.sel = faiss.IDSelectorBatch(candidates.astype(np.int64))
        sims, rows = index.search(query.reshape(1, -1), min(want, n), params=params)
        keep = rows[0] >= 0
        return rows[0][keep], sims[0][keep]

    def knn(self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None,
            message: str | None = None) -> list[Hit]:
        """The k records nearest `vector` by cosine similarity, best first.

        Records sharing one vector tie: of the `TIE_WINDOW` stored last, a record whose message equals
        `message` comes first, then the newest.
        """
        filters = filters or SearchFilters()
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        with self._lock:
            self._refresh()
            held = self._meta().get("model_id")
            if held and self.model_id and held != self.model_id:
                raise StoreModelError(f"the store at {self.path} holds vectors of model {held}; a query vectorized "
                                      f"by model {self.model_id} would not compare with them")
            if not self._n_vectors:
                return []
            self._vectors()  # a damaged store is an error that says how, not an empty answer
            if len(query) != self.dim:
                raise StoreDimensionError(f"query has {len(query)} dimensions, the store holds {self.dim}")
            where, args = self._where(filters)
            candidates = None
            if where:
                candidates = self._candidate_rows(filters, where, args)
                if not len(candidates):
                    return []
            hits: list[Hit] = []
            want = k
            tied = self._tied_anomalies if filters.anomalies_only or filters.kind else self._tied_records
            lists = postings.Reader(self._db)
            while True:
                rows, sims = self._rank_rows(query, candidates, want)
                hits = []
                for row, sim in zip(rows.tolist(), sims.tolist()):
                    for r in tied(lists, row, where, args, message or "", k - len(hits), max(TIE_WINDOW, k)):
                        hits.append(Hit.from_row(r, sim, held))
                    if len(hits) >= k:
                        return self._with_template_texts(hits)
                # HNSW may return fewer rows than asked when filters are tight: widen once, then give up
                if len(rows) < want or want >= (self._n_vectors if candidates is None else len(candidates)):
                    return self._with_template_texts(hits)
                want *= 4

    def _tied_anomalies(self, lists: postings.Reader, row: int, where: str, args: list, message: str, k: int,
                        window: int) -> list[tuple]:
        return self._db.execute(_tied_anomalies_sql(where), [row, *args, window, message, k]).fetchall()

    def _tied_records(self, lists: postings.Reader, row: int, where: str, args: list, message: str, k: int,
                      window: int) -> list[tuple]:
        """As `_tied_anomalies`, the records found from the vector's lists of rowids, newest first."""
        sql = (f"SELECT {_COLUMNS}, rowid FROM records WHERE rowid IN (SELECT value FROM json_each(?)) AND vec = ?"
               + (f" AND {where}" if where else ""))
        got: list[tuple] = []
        for chunk in lists.newest(row):
            for start in range(0, len(chunk), window):
                got += self._db.execute(sql, [json.dumps(chunk[start:start + window].tolist()), row, *args])
                if len(got) >= window:
                    return _tied_first(got, message, window)[:k]
        return _tied_first(got, message, window)[:k]

    def _with_template_texts(self, hits: list[Hit]) -> list[Hit]:
        """A record's template text is kept once per template in `templates` (the latest text Drain gave it):
        looked up here for the hits, in one query. Rows of stores written before that table carry their own."""
        wanted = list({h.template_id for h in hits if not h.template and h.template_id is not None})
        if wanted:
            texts = dict(self._db.execute(
                f"SELECT template_id, template FROM templates WHERE template_id IN ({','.join('?' * len(wanted))})",
                wanted))
            for h in hits:
                if not h.template and h.template_id in texts:
                    h.template = texts[h.template_id]
        return hits

    def close(self) -> None:
        self._checkpointer.close()
        with self._lock:
            self._db.close()
