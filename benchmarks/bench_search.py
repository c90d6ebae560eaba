"""Search latency of the embedded store as it fills: `logvec search` on a store of N generated lines.

    python benchmarks/bench_search.py [--lines 1000000] [--queries 200] [--pipeline pipelines/tfidf.yaml]

1. Generates N lines and stores them with `logvec run --pipeline P --input FILE` (a child process).
2. In this process, as `logvec search` does it (`Runner.search`, k=10): queries are lines drawn from the
   same file (seeded), timed one by one — all of them, then half of them with a filter each (`service`,
   the last hour, anomalies only), and then the lines whose vector the most records share (the search that
   has the most ties to rank).
Reports p50 / p95 / max milliseconds per set and the largest number of records sharing one vector.
Writes benchmarks/out/search.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results import save

from logvec.config import load_pipeline
from logvec.searcher import Searcher
from logvec.store import SearchFilters

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def timed(searcher: Searcher, queries: list[str], filters: SearchFilters | None = None) -> dict:
    ms = []
    for q in queries:
        t = time.perf_counter()
        hits = searcher.search(q, k=10, filters=filters)
        ms.append((time.perf_counter() - t) * 1000)
        assert hits, q
    return {"queries": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(max(ms), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "tfidf.yaml"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log, data = Path(tmp) / "search.log", Path(tmp) / "data"
        subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines), "--out", str(log)],
                       check=True)
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "logvec"), "run", "--pipeline", a.pipeline, "--input",
                        str(log), "--data-dir", str(data), "--format", "json"], check=True, capture_output=True)
        fill_s = time.perf_counter() - t
        lines = log.read_text().splitlines()
        picked = random.Random(3).sample(lines, a.queries)
        searcher = Searcher(load_pipeline(a.pipeline), data)
        db = sqlite3.connect(data / "store" / "records.sqlite")
        top_vec, top_count = db.execute(
            "SELECT vec, COUNT(*) FROM records GROUP BY vec ORDER BY 2 DESC LIMIT 1").fetchone()
        top_lines = [m for (m,) in db.execute("SELECT message FROM records WHERE vec = ? LIMIT ?",
                                               (top_vec, a.queries))]
        service = db.execute("SELECT service FROM records WHERE vec = ? LIMIT 1", (top_vec,)).fetchone()[0]
        last = db.execute("SELECT MAX(ts) FROM records").fetchone()[0]
        db.close()
        searcher.search(picked[0])  # loads the model and maps the vectors
        result = {
            "lines": a.lines, "fill_seconds": round(fill_s, 1), "records_sharing_the_commonest_vector": top_count,
            "any_line": timed(searcher, picked),
            "any_line_service_filter": timed(searcher, picked[: a.queries // 2], SearchFilters(service=service)),
            "any_line_last_hour": timed(searcher, picked[: a.queries // 2], SearchFilters(since=last - 3600)),
            "any_line_anomalies_only": timed(searcher, picked[: a.queries // 2], SearchFilters(anomalies_only=True)),
            "commonest_vector": timed(searcher, top_lines),
        }
        searcher.close()
    save("search.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
