"""The embedded store: idempotent upserts, persistence, filters, exact and HNSW search, dimension safety."""

import sqlite3
from datetime import datetime

import numpy as np
import pytest

from logvec.records import RecordBatch
from logvec.store import LocalStore, SearchFilters, StoreDimensionError, postings, spans
from logvec.store.base import SessionRow
from logvec.store.local import TIE_WINDOW, _tied_anomalies_sql
from logvec.vectorize import Vectors

DAY = 86400.0


def unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def batch(n, start=0, services=("api", "db"), anomaly_every=0):
    ids = [f"f:{i}" for i in range(start, start + n)]
    rb = RecordBatch(
        ids=ids,
        messages=[f"message {i}" for i in range(start, start + n)],
        timestamps=np.array([1.7e9 + i * DAY for i in range(start, start + n)]),
        services=[services[i % len(services)] for i in range(start, start + n)],
        levels=["ERROR" if i % 5 == 0 else "INFO" for i in range(start, start + n)],
        flags=[""] * n,
    )
    rb.template_ids = np.arange(start, start + n) % 7
    rb.templates = [f"template {t}" for t in rb.template_ids]
    rb.is_anomaly = (np.arange(start, start + n) % anomaly_every == 0) if anomaly_every else np.zeros(n, bool)
    rb.scores = rb.is_anomaly.astype(np.float32)
    rb.reasons = ["new template" if a else "" for a in rb.is_anomaly]
    return rb


def test_upsert_is_idempotent_and_survives_restart(tmp_path):
    rng = np.random.default_rng(0)
    vecs = Vectors.from_dense(unit(rng, 50, 16))
    s = LocalStore(tmp_path)
    s.upsert(batch(50), vecs)
    s.upsert(batch(50), vecs)  # the same input again
    assert s.count() == 50
    s.close()
    s2 = LocalStore(tmp_path)
    assert s2.count() == 50 and s2.dim == 16
    hits = s2.knn(vecs.dense()[7], k=1)
    assert hits[0].id == "f:7" and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_a_large_batch_is_stored_row_for_row_and_a_replay_overwrites(tmp_path):
    """Batches beyond one multi-row statement (whole statements plus a remainder): every field of every row
    reads back as written, and a replay that overlaps them, with new verdicts, replaces rows, never adds."""
    import sqlite3

    from logvec.store.local import ROWS_PER_INSERT

    n = 2 * ROWS_PER_INSERT + 345
    rng = np.random.default_rng(4)
    s = LocalStore(tmp_path)
    first = batch(n)
    s.upsert(first, Vectors.from_dense(unit(rng, n, 8)))
    replay = batch(n, start=ROWS_PER_INSERT + 7, anomaly_every=3)  # the second half again, then new ones
    s.upsert(replay, Vectors.from_dense(unit(rng, n, 8)))
    assert s.count() == n + ROWS_PER_INSERT + 7
    db = sqlite3.connect(tmp_path / "records.sqlite")
    stored = {r[0]: r[1:] for r in db.execute(
        "SELECT id, ts, service, level, message, t.template, template_id, is_anomaly, reason FROM records "
        "LEFT JOIN templates t USING (template_id)")}
    # each template's text once, in `templates`, not in every row
    assert db.execute("SELECT COUNT(*) FROM records WHERE template IS NOT NULL").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM templates").fetchone()[0] == 7
    for b, rows in ((first, range(ROWS_PER_INSERT + 7)), (replay, range(n))):
        for i in rows:
            assert stored[b.ids[i]] == (b.timestamps[i], b.services[i], b.levels[i], b.messages[i], b.templates[i],
                                        b.template_ids[i], int(b.is_anomaly[i]), b.reasons[i])
    assert sum(r[6] for r in stored.values()) == int(replay.is_anomaly.sum()) > 0
    # the replayed rows were written twice, and that shows: deliveries are counted, not hidden by the key
    overlap = set(first.ids) & set(replay.ids)
    writes = dict(db.execute("SELECT id, writes FROM records"))
    assert {i for i, w in writes.items() if w == 2} == overlap and set(writes.values()) == {1, 2}
    assert s.stats()["redeliveries"] == len(overlap) == n - ROWS_PER_INSERT - 7
    db.close()


def test_hits_show_a_templates_latest_text_and_old_rows_their_own(tmp_path):
    """Drain generalises a template as lines come: every record of it shows the text it has now. Rows written
    before template texts had their own table keep the text they carry."""
    s = LocalStore(tmp_path)
    rows = np.eye(2, dtype=np.float32)
    s.upsert(batch(14), Vectors(rows, np.zeros(14, dtype=np.int64)))
    later = batch(7, start=14)
    later.templates = [f"template {t} <*>" for t in later.template_ids]
    s.upsert(later, Vectors(rows, np.zeros(7, dtype=np.int64)))
    hits = s.knn(rows[0], k=21)
    assert len(hits) == 21 and {h.template for h in hits} == {f"template {t} <*>" for t in range(7)}
    with sqlite3.connect(tmp_path / "records.sqlite") as db:  # as an older release wrote it
        db.execute("UPDATE records SET template = 'written with the row' WHERE id = 'f:3'")
    assert {h.id: h.template for h in s.knn(rows[0], k=21)}["f:3"] == "written with the row"


def test_an_sqlite_that_allows_fewer_values_a_statement_stores_rows_one_by_one(tmp_path, monkeypatch):
    """SQLite before 3.32 binds at most 999 values a statement: the store then writes row by row."""
    import sqlite3

    from logvec.store.local import ROWS_PER_INSERT

    connect = sqlite3.connect

    def old_sqlite(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        return db

    monkeypatch.setattr(sqlite3, "connect", old_sqlite)
    s = LocalStore(tmp_path)
    assert s._statement_rows == 0
    n = ROWS_PER_INSERT + 3
    s.upsert(batch(n), Vectors.from_dense(unit(np.random.default_rng(5), n, 8)))
    assert s.count() == n


def test_identical_vectors_stored_once(tmp_path):
    rows = np.eye(4, dtype=np.float32)
    s = LocalStore(tmp_path)
    s.upsert(batch(100), Vectors(rows, np.arange(100) % 4))
    s.upsert(batch(100, start=100), Vectors(rows, np.arange(100) % 4))
    st = s.stats()
    assert st["records"] == 200 and st["distinct_vectors"] == 4
    assert (tmp_path / "vectors.f32").stat().st_size == 4 * 4 * 4


def test_knn_orders_by_cosine_and_prefers_exact_message(tmp_path):
    rows = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]], dtype=np.float32)
    s = LocalStore(tmp_path)
    s.upsert(batch(9), Vectors(rows, np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])))
    hits = s.knn(np.array([1, 0, 0], dtype=np.float32), k=5, message="message 1")
    assert [h.id for h in hits[:1]] == ["f:1"]
    assert {h.id for h in hits[:3]} == {"f:0", "f:1", "f:2"}
    assert [h.score for h in hits] == sorted([h.score for h in hits], reverse=True)
    assert hits[3].score == pytest.approx(0.8)


def test_records_sharing_a_vector_newest_first_and_the_exact_message_among_the_last_stored(tmp_path):
    """One shape seen many times: a search ranks the `TIE_WINDOW` of its records stored last, not all of them."""
    n = TIE_WINDOW * 3
    s = LocalStore(tmp_path)
    s.upsert(batch(n), Vectors(np.eye(2, dtype=np.float32)[:1], np.zeros(n, dtype=np.int64)))
    query = np.array([1, 0], dtype=np.float32)
    recent, old = n - 10, 5  # record 5 was stored before the window
    assert [h.id for h in s.knn(query, k=3, message=f"message {recent}")] == [f"f:{recent}", f"f:{n - 1}",
                                                                           f"f:{n - 2}"]
    assert [h.id for h in s.knn(query, k=3, message=f"message {old}")] == [f"f:{n - 1}", f"f:{n - 2}", f"f:{n - 3}"]
    # filters apply before the window: the newest `api` records, and the exact one among them
    api = s.knn(query, k=2, message=f"message {recent}", filters=SearchFilters(service="api"))
    assert [h.id for h in api] == [f"f:{recent}", f"f:{n - 2}"] and {h.service for h in api} == {"api"}


@pytest.mark.parametrize("filters", [SearchFilters(anomalies_only=True), SearchFilters(level="error", kind="new")])
def test_tied_anomalies_are_read_along_the_partial_index_without_sorting_them(tmp_path, filters):
    s = LocalStore(tmp_path)
    where, args = s._where(filters)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        plan = list(db.execute("EXPLAIN QUERY PLAN " + _tied_anomalies_sql(where),
                               [0, *args, TIE_WINDOW, "m", 10]))
    inner = {node for node, _, _, detail in plan if detail.startswith("CO-ROUTINE")}
    assert inner, plan
    below = [detail for _, parent, _, detail in plan if parent in inner]
    assert any(d.startswith("SEARCH records USING INDEX records_anomalous_vec") for d in below), plan
    assert not any("TEMP B-TREE" in d for d in below), plan


def listed(s: LocalStore, vec: int) -> list[int]:
    """The rowids the postings give for `vec`, in the order they give them, each at most once."""
    out = [r for chunk in postings.Reader(s._db).newest(vec) for r in chunk.tolist()]
    assert len(out) == len(set(out)), out
    return out


@pytest.mark.parametrize("merge_records", [10**9, 200])
def test_postings_list_every_record_of_a_vector_newest_first(tmp_path, monkeypatch, merge_records):
    """Pending writes, merged ones and a replay that moves records to other vectors: what the postings list
    for a vector, once each record's vector is checked again, is what a scan of the records finds."""
    monkeypatch.setattr(postings, "MERGE_RECORDS", merge_records)
    s = filled(tmp_path)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        pending, merged = (db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                           for t in ("postings_pending", "postings"))
        assert (pending, bool(merged)) == ((4, False) if merge_records > 1000 else (pending, True))
        for vec in range(40):
            scan = [r for (r,) in db.execute("SELECT rowid FROM records WHERE vec = ? ORDER BY rowid DESC", (vec,))]
            holds = {r for (r,) in db.execute("SELECT rowid FROM records WHERE vec = ?", (vec,))}
            found = [r for r in listed(s, vec) if r in holds]
            assert sorted(found, reverse=True) == scan
            if merge_records > 1000:  # nothing merged: strictly newest first
                assert found == scan


def reopened_as_older(path, tables: tuple[str, ...], column: str) -> LocalStore:
    """The closed store at `path` as a release before `tables` wrote it (an index on `column` instead), opened
    again: it has the first table filled and the index gone."""
    with sqlite3.connect(path / "records.sqlite") as db:
        for table in tables:
            db.execute(f"DROP TABLE {table}")
        db.execute(f"CREATE INDEX records_{column} ON records({column})")
    s = LocalStore(path)
    with sqlite3.connect(path / "records.sqlite") as db:
        assert db.execute(f"SELECT COUNT(*) FROM {tables[0]}").fetchone()[0] > 0
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"records_{column}",)).fetchone()
    return s


def test_a_store_written_with_an_index_on_vec_gets_postings_on_open(tmp_path):
    s = filled(tmp_path)
    before = [[h.id for h in s.knn(np.ones(8, dtype=np.float32), k=30, filters=f)] for f in FILTERS]
    s.close()
    s = reopened_as_older(tmp_path, ("postings", "postings_pending"), "vec")
    assert [[h.id for h in s.knn(np.ones(8, dtype=np.float32), k=30, filters=f)] for f in FILTERS] == before


FILTERS = [SearchFilters(service="api"), SearchFilters(service="db", level="error"), SearchFilters(level="INFO"),
           SearchFilters(service="web"), SearchFilters(service="nowhere"), SearchFilters(anomalies_only=True),
           SearchFilters(service="db", anomalies_only=True), SearchFilters(since=1.7e9 + 100 * DAY),
           SearchFilters(since=1.7e9 + 50 * DAY, until=1.7e9 + 60 * DAY, service="api", level="ERROR")]


def filled(path) -> LocalStore:
    """Records over several batches and services, a replay that moves some to another service, and a session
    verdict that flags records after they were written."""
    rng = np.random.default_rng(9)
    pool = unit(rng, 40, 8)
    s = LocalStore(path)
    for start, services in ((0, ("api", "db")), (150, ("api", "db", "web")), (300, ("db",))):
        pick = rng.integers(0, 40, 150)
        s.upsert(batch(150, start=start, services=services, anomaly_every=37), Vectors(pool[pick], np.arange(150)))
    pick = rng.integers(0, 40, 50)
    s.upsert(batch(50, start=100, services=("web",)), Vectors(pool[pick], np.arange(50)))  # a replay
    s.upsert_sessions([SessionRow("blk_1", [f"f:{i}" for i in range(200, 210)], 0.0, 1.0, True, 0.9, "new")])
    return s


@pytest.mark.parametrize("filters", FILTERS)
def test_filtered_search_finds_the_vectors_a_scan_of_every_record_finds(tmp_path, filters):
    s = filled(tmp_path)
    where, args = s._where(filters)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        scanned = {r for (r,) in db.execute(f"SELECT DISTINCT vec FROM records WHERE {where}", args)}
    found = set(s._candidate_rows(filters, where, args).tolist())
    assert scanned <= found  # a combination the replay moved away may linger (its records are filtered again)
    assert len(found - scanned) <= 50
    query = unit(np.random.default_rng(1), 1, 8)[0]
    hits = s.knn(query, k=20, filters=filters)
    everything = s.knn(query, k=500)
    expected = [h.id for h in everything if _passes(h, filters)][:20]
    assert [h.id for h in hits] == expected


def _passes(h, f: SearchFilters) -> bool:
    ts = datetime.fromisoformat(h.timestamp).timestamp()
    return ((f.service is None or h.service == f.service) and (f.level is None or h.level == f.level.upper())
            and (not f.anomalies_only or h.is_anomaly) and (f.since is None or ts >= f.since)
            and (f.until is None or ts <= f.until))


def out_of_order(path) -> LocalStore:
    """Writes whose times go back and forth (a day of each host's file in turn), one with no times, and a
    replay that moves records to other times."""
    rng = np.random.default_rng(4)
    s = LocalStore(path)
    for w in range(40):
        rb = batch(30, start=30 * w, services=("api", "db", "web"))
        rb.timestamps = 1.7e9 + (w % 5) * DAY + rng.uniform(0, DAY, 30)
        if w == 7:
            rb.timestamps[:] = np.nan
        s.upsert(rb, Vectors(unit(rng, 30, 4), np.arange(30)))
    replay = batch(20, start=100)
    replay.timestamps = 1.7e9 + 9 * DAY + np.arange(20.0)
    s.upsert(replay, Vectors(unit(rng, 20, 4), np.arange(20)))
    return s


@pytest.mark.parametrize("max_runs", [64, 3])
def test_time_ranges_read_from_spans_find_what_a_scan_finds(tmp_path, monkeypatch, max_runs):
    monkeypatch.setattr(spans, "MAX_RUNS", max_runs)
    s = out_of_order(tmp_path)
    db = s._db
    assert s.time_range() == db.execute("SELECT MIN(ts), MAX(ts) FROM records").fetchone()
    for lo, hi in ((1.7e9, 1.7e9 + DAY / 2), (1.7e9 + 2.5 * DAY, 1.7e9 + 4 * DAY), (1.7e9 + 9 * DAY, 2e9),
                   (0.0, 1.0)):
        scan = [r for (r,) in db.execute("SELECT id FROM records WHERE ts >= ? AND ts <= ? AND service = 'api' "
                                         "ORDER BY ts, rowid", (lo, hi))]
        assert [h.id for h in s.lines_between(lo, hi, service="api", limit=10_000)] == scan
        counts = sum(sum(series) for series in s.histogram(lo, hi, 7)["lines"].values())
        assert counts == db.execute("SELECT COUNT(*) FROM records WHERE ts >= ? AND ts < ?", (lo, hi)).fetchone()[0]
        filtered = s.knn(np.ones(4, dtype=np.float32), k=2000, filters=SearchFilters(since=lo, until=hi))
        assert sorted(h.id for h in filtered) == sorted(
            r for (r,) in db.execute("SELECT id FROM records WHERE ts >= ? AND ts <= ?", (lo, hi)))
    hit = s.records(["f:500"])[0]
    ts = db.execute("SELECT ts FROM records WHERE id = 'f:500'").fetchone()[0]
    near = [h.id for h in s.neighbours(hit, 3, 3)]
    before = [r for (r,) in db.execute("SELECT id FROM records WHERE ts <= ? AND service = ? AND id != 'f:500' "
                                       "ORDER BY ts DESC LIMIT 3", (ts, hit.service))]
    after = [r for (r,) in db.execute("SELECT id FROM records WHERE ts >= ? AND service = ? AND id != 'f:500' "
                                      "ORDER BY ts LIMIT 3", (ts, hit.service))]
    assert sorted(near) == sorted(before + after) and len(near) == 6


def test_a_store_written_with_an_index_on_ts_gets_spans_on_open(tmp_path):
    s = out_of_order(tmp_path)
    window = (1.7e9 + DAY, 1.7e9 + 3 * DAY)
    before = [h.id for h in s.lines_between(*window, limit=10_000)]
    s.close()
    s = reopened_as_older(tmp_path, ("spans",), "ts")
    assert [h.id for h in s.lines_between(*window, limit=10_000)] == before and before


@pytest.mark.parametrize("filters", [SearchFilters(service="api"), SearchFilters(anomalies_only=True),
                                     SearchFilters(since=1.7e9)])
def test_filtered_search_does_not_read_every_record(tmp_path, filters):
    s = filled(tmp_path)
    where, args = s._where(filters)
    sql = s._candidate_sql(filters, where)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        plan = [detail for *_, detail in db.execute("EXPLAIN QUERY PLAN " + sql, args)]
    assert not any(d.startswith("SCAN records") and "records_anomalous_vec" not in d for d in plan), plan


def test_a_store_written_before_vec_facets_gets_them_on_open(tmp_path):
    s = filled(tmp_path)
    before = [[h.id for h in s.knn(np.ones(8, dtype=np.float32), k=30, filters=f)] for f in FILTERS]
    s.close()
    with sqlite3.connect(tmp_path / "records.sqlite") as db:  # as a release before the table wrote it
        db.execute("DROP TABLE vec_facets")
    s = LocalStore(tmp_path)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM vec_facets").fetchone()[0] > 0
    assert [[h.id for h in s.knn(np.ones(8, dtype=np.float32), k=30, filters=f)] for f in FILTERS] == before
    assert all(before[:4]), before  # the service and level filters found records


def test_hnsw_beyond_threshold_agrees_with_exact(tmp_path):
    rng = np.random.default_rng(2)
    vecs = Vectors.from_dense(unit(rng, 3000, 32))
    exact = LocalStore(tmp_path / "exact", ann_threshold=10_000)
    ann = LocalStore(tmp_path / "ann", ann_threshold=100)
    for s in (exact, ann):
        s.upsert(batch(3000), vecs)
    queries = vecs.dense()[:20] + 0.05 * unit(rng, 20, 32)
    recall = np.mean([
        len({h.id for h in ann.knn(q, k=10)} & {h.id for h in exact.knn(q, k=10)}) / 10 for q in queries
    ])
    assert recall >= 0.9
    assert (tmp_path / "ann" / "hnsw.faiss").exists()
    # filtered ANN search honours the filter
    assert {h.service for h in ann.knn(queries[0], k=10, filters=SearchFilters(service="api"))} == {"api"}


def test_dimension_mismatch_is_refused(tmp_path):
    s = LocalStore(tmp_path)
    s.upsert(batch(3), Vectors.from_dense(np.eye(3, dtype=np.float32)))
    with pytest.raises(StoreDimensionError, match="holds 3-dimensional vectors but these are 5-dimensional"):
        s.upsert(batch(3), Vectors.from_dense(np.eye(3, 5, dtype=np.float32)))
    with pytest.raises(StoreDimensionError):
        s.knn(np.ones(5, dtype=np.float32))
    assert s.count() == 3


def test_records_and_vectors_length_must_agree(tmp_path):
    with pytest.raises(ValueError, match="3 records but 2 vectors"):
        LocalStore(tmp_path).upsert(batch(3), Vectors.from_dense(np.eye(2, dtype=np.float32)))


def test_empty_store_search(tmp_path):
    assert LocalStore(tmp_path).knn(np.ones(4, dtype=np.float32)) == []


BATCHES = 100
WRITER = """
import os
import sys
import time

import numpy as np

from logvec.store import LocalStore
from logvec.vectorize import Vectors
from tests.store.test_local import BATCHES, batch, pool_vectors

path, who = sys.argv[1], int(sys.argv[2])
pool = pool_vectors()
store = LocalStore(path)
open(os.path.join(path, f"ready-{who}"), "w").close()
while not os.path.exists(os.path.join(path, "go")):  # start together
    time.sleep(0.001)
for b in range(BATCHES):
    start = (who * BATCHES + b) * 20
    pick = (np.arange(start, start + 20) * 7) % len(pool)   # both writers add the same new vectors
    store.upsert(batch(20, start=start), Vectors(pool[pick], np.arange(20)))
store.close()
"""


def pool_vectors() -> np.ndarray:
    return unit(np.random.default_rng(42), 300, 16)


def test_several_processes_write_one_store(tmp_path):
    """Two worker processes on one data directory: every record lands once, each distinct vector is stored
    once, and every record points at its own vector (no row handed out twice)."""
    import subprocess
    import sys
    import time

    from tests.support import ROOT

    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(who)], cwd=ROOT,
                              stderr=subprocess.PIPE) for who in (0, 1)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{who}").exists() for who in (0, 1)) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    store = LocalStore(tmp_path)
    pool = pool_vectors()
    ids = [f"f:{i}" for i in range(2 * BATCHES * 20)]
    expected = pool[(np.arange(len(ids)) * 7) % len(pool)]
    assert store.count() == len(ids)
    assert store.stats()["distinct_vectors"] == len({r.tobytes() for r in expected}) == len(pool)
    with sqlite3.connect(tmp_path / "records.sqlite") as db:  # the files as docs/store.md describes them
        rows = dict(db.execute("SELECT id, vec FROM records"))
    vectors = np.fromfile(tmp_path / "vectors.f32", dtype=np.float32).reshape(-1, expected.shape[1])
    np.testing.assert_array_equal(vectors[[rows[i] for i in ids]], expected)


def test_a_vector_file_shorter_than_its_table_is_refused(tmp_path):
    """A damaged store (vectors.f32 cut short behind SQLite's back) is an error naming the file, never new
    vectors written over the gap."""
    from logvec.store.base import StoreCorruptError

    s = LocalStore(tmp_path)
    s.upsert(batch(10), Vectors.from_dense(unit(np.random.default_rng(1), 10, 16)))
    with open(tmp_path / "vectors.f32", "r+b") as f:
        f.truncate(3 * 16 * 4)
    with pytest.raises(StoreCorruptError, match="vectors.f32 holds 3 vectors but records.sqlite knows 10"):
        s.upsert(batch(5, start=10), Vectors.from_dense(unit(np.random.default_rng(2), 5, 16)))
    assert s.count() == 10  # the refused batch left nothing behind


def test_the_log_is_checkpointed_by_a_thread_not_by_the_writer(tmp_path):
    """The write-ahead log is copied back into records.sqlite by the store's checkpoint thread while the store
    stays open (the writer's own autocheckpoint is only a far-off safety net), and closing stops the thread."""
    import time

    s = LocalStore(tmp_path, checkpoint_interval_s=0.05)
    db_file = tmp_path / "records.sqlite"
    empty = db_file.stat().st_size
    rng = np.random.default_rng(3)
    for b in range(10):
        s.upsert(batch(500, start=b * 500), Vectors.from_dense(unit(rng, 500, 16)))
    deadline = time.monotonic() + 10
    # the file grows during a checkpoint, and the checkpoint is counted once it returns: wait for both
    while (db_file.stat().st_size == empty or not s._checkpointer.checkpoints) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s._checkpointer.checkpoints >= 1
    assert db_file.stat().st_size > empty  # pages reached the database file, the store still open
    thread = s._checkpointer._thread
    assert thread is not None and thread.is_alive()
    s.close()
    assert not thread.is_alive()
    assert LocalStore(tmp_path).count() == 5000


def test_a_checkpoint_that_fails_is_counted_and_tried_again(tmp_path, caplog):
    """A fault (here the database cannot be opened: its directory is missing) is logged once and counted,
    and the thread lives on: once the database is there, the next write's checkpoint goes through."""
    import sqlite3
    import time

    from prometheus_client import REGISTRY

    from logvec.store.checkpointer import Checkpointer

    def count(result):
        return REGISTRY.get_sample_value("logvec_store_checkpoints_total", {"result": result}) or 0

    def wait_for(predicate):
        deadline = time.monotonic() + 10
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert predicate()

    path = tmp_path / "later" / "records.sqlite"
    failed = count("failed")
    checkpointer = Checkpointer(path, interval_s=0.02)
    try:
        for _ in range(3):
            checkpointer.notify()
            wait_for(lambda: count("failed") > failed)
            failed = count("failed")
        assert checkpointer._thread.is_alive() and checkpointer.checkpoints == 0
        assert sum("checkpoint of" in r.message for r in caplog.records if r.levelname == "WARNING") == 1
        path.parent.mkdir()
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
        checkpointer.notify()
        wait_for(lambda: checkpointer.checkpoints >= 1)
        db.close()
    finally:
        checkpointer.close()


def test_a_store_that_is_only_read_starts_no_checkpoint_thread(tmp_path):
    """The API server's store reads: opening one (which creates the tables) and searching start no thread."""
    reader = LocalStore(tmp_path)
    reader.count(), reader.knn(np.ones(16, np.float32), k=1)
    assert reader._checkpointer._thread is None
    reader.close()


def test_rows_of_keys_met_before_are_not_hashed_again(tmp_path, monkeypatch):
    """A masked line met before has the same vector: its row is known by the key, without hashing the vector
    again, until another model's vectors come."""
    import logvec.store.local as local

    hashed = []
    real = local._row_hash
    monkeypatch.setattr(local, "_row_hash", lambda row: hashed.append(row.copy()) or real(row))
    rng = np.random.default_rng(3)
    pool = unit(rng, 5, 8)
    keys = [f"shape {i}" for i in range(5)]
    s = LocalStore(tmp_path)
    s.upsert(batch(50), Vectors(pool, np.arange(50) % 5, keys))
    s.upsert(batch(50, start=50), Vectors(pool, np.arange(50) % 5, keys))
    assert len(hashed) == 5
    vec = dict(s._db.execute("SELECT id, vec FROM records"))
    assert all(vec[f"f:{i}"] == vec[f"f:{i + 50}"] for i in range(50)) and len(set(vec.values())) == 5
    s.use_model("another")
    s.upsert(batch(50, start=100), Vectors(-pool, np.arange(50) % 5, keys))
    assert len(hashed) == 10
    vec = dict(s._db.execute("SELECT id, vec FROM records"))
    assert {vec[f"f:{i}"] for i in range(100, 150)}.isdisjoint({vec[f"f:{i}"] for i in range(50)})
