"""The whole-pipeline peer: what `logvec run` does, built from standard parts the way a competent engineer
would write it in an afternoon — the yardstick for logvec's throughput (bench_throughput.py).

    python benchmarks/peers/pipeline.py --pipeline pipelines/default.yaml --input FILE --data-dir DIR

Same work, same settings (read from the pipeline file): the pipeline's header regexes → its masks (the
same regexes, one alternation, per message) → a dict cache of masked lines → Drain3 with the pipeline's
settings for lines not seen before → scikit-learn's TfidfVectorizer fitted on the warm-up lines, each
distinct masked line vectorized once → a line is flagged when its template never occurred in the warm-up
(novelty) → SQLite rows (WAL, synchronous=NORMAL, one transaction a batch) and each distinct vector once in a
float32 file → the fitted model pickled. Prints a JSON summary with the seconds spent in each stage.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sqlite3
import time
from collections import defaultdict
from datetime import datetime
from itertools import islice
from pathlib import Path

import numpy as np
from settings import drain3_miner, mask_regex
from sklearn.feature_extraction.text import TfidfVectorizer

from logvec.config import load_pipeline

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, ts REAL, service TEXT, level TEXT, message TEXT,
                                    template_id INTEGER, vec INTEGER, is_anomaly INTEGER);
CREATE TABLE IF NOT EXISTS templates (template_id INTEGER PRIMARY KEY, template TEXT);
"""


def read_batches(path: Path, size: int):
    with open(path, encoding="utf-8", errors="replace") as f:
        start = 0
        while batch := [line.rstrip("\n") for line in islice(f, size)]:
            yield start, batch
            start += len(batch)


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args()
    config = load_pipeline(a.pipeline)  # the settings only: reading them is not the work measured
    stages: dict[str, float] = defaultdict(float)
    t_all = time.perf_counter()

    headers = [re.compile(p) for p in config.parse.patterns]
    masks, placeholder = mask_regex(config)
    miner = drain3_miner(config)
    template_of: dict[str, int] = {}
    row_of: dict[str, int] = {}
    tfidf = TfidfVectorizer(max_features=getattr(config.vectorizer, "max_features", 4096), sublinear_tf=True,
                            token_pattern=r"[^\s]+", lowercase=False, dtype=np.float32)
    warmup, batch_size = config.run.warmup_lines, config.run.batch_size

    data = Path(a.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data / "records.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    vectors = open(data / "vectors.f32", "ab")

    def prepare(start: int, lines: list[str]):
        t = time.perf_counter()
        rows = []
        for i, line in enumerate(lines):
            for rx in headers:
                m = rx.match(line)
                if m:
                    g = m.groupdict()
                    rows.append((f"{a.input}:{start + i + 1}", parse_time(g.get("timestamp")), g.get("service"),
                                 g.get("level"), g["message"]))
                    break
            else:
                rows.append((f"{a.input}:{start + i + 1}", None, None, None, line))
        t2 = time.perf_counter()
        stages["parse"] += t2 - t
        masked = [masks.sub(lambda m: placeholder[m.lastgroup], r[4]) for r in rows]
        t3 = time.perf_counter()
        stages["mask"] += t3 - t2
        for text in masked:
            if text not in template_of:
                template_of[text] = miner.add_log_message(text)["cluster_id"]
        tids = np.fromiter((template_of[x] for x in masked), dtype=np.int64, count=len(masked))
        stages["template"] += time.perf_counter() - t3
        return rows, masked, tids

    # warm-up: fit the vectorizer and learn which templates are normal on the first lines
    t = time.perf_counter()
    first = []
    for start, lines in read_batches(Path(a.input), batch_size):
        first.append((start, lines))
        if start + len(lines) >= warmup:
            break
    stages["read"] += time.perf_counter() - t
    prepared = [prepare(s, lines) for s, lines in first]
    t = time.perf_counter()
    warm_masked = [x for _, masked, _ in prepared for x in masked][:warmup]
    tfidf.fit(sorted(set(warm_masked)))
    known = np.unique(np.concatenate([tids for _, _, tids in prepared]))
    with open(data / "model.pkl", "wb") as f:
        pickle.dump({"tfidf": tfidf, "drain": miner.drain, "known": known}, f)
    stages["fit"] += time.perf_counter() - t

    def store(rows, masked, tids) -> None:
        t = time.perf_counter()
        new = [x for x in dict.fromkeys(masked) if x not in row_of]
        if new:
            X = tfidf.transform(new).toarray()
            for x in new:
                row_of[x] = len(row_of)
            vectors.write(np.ascontiguousarray(X, dtype=np.float32).tobytes())
        vec = [row_of[x] for x in masked]
        t2 = time.perf_counter()
        stages["vectorize"] += t2 - t
        flagged = (~np.isin(tids, known)).tolist()
        t3 = time.perf_counter()
        stages["detect"] += t3 - t2
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(*r, tid, v, f) for r, tid, v, f in zip(rows, tids.tolist(), vec, flagged)])
        db.execute("COMMIT")
        vectors.flush()
        stages["store"] += time.perf_counter() - t3

    n = 0
    for (rows, masked, tids), (_, lines) in zip(prepared, first):
        store(rows, masked, tids)
        n += len(lines)
    t = time.perf_counter()
    batches = read_batches(Path(a.input), batch_size)
    for _ in first:  # already done
        next(batches)
    stages["read"] += time.perf_counter() - t
    while True:
        t = time.perf_counter()
        got = next(batches, None)
        stages["read"] += time.perf_counter() - t
        if got is None:
            break
        start, lines = got
        store(*prepare(start, lines))
        n += len(lines)

    t = time.perf_counter()
    db.executemany("INSERT OR REPLACE INTO templates VALUES (?, ?)",
                   [(c.cluster_id, c.get_template()) for c in miner.drain.clusters])
    db.close()
    vectors.close()
    stages["close"] += time.perf_counter() - t
    print(json.dumps({"lines": n, "seconds": time.perf_counter() - t_all, "templates": len(miner.drain.clusters),
                      "distinct_vectors": len(row_of), "stage_seconds": {k: round(v, 3) for k, v in stages.items()}}))


if __name__ == "__main__":
    main()
