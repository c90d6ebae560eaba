"""OpenSearch write path: `OpenSearchStore.upsert` next to raw `helpers.bulk` of the same documents, same
server, same run.

    python benchmarks/bench_opensearch.py [--records 50000] [--url http://127.0.0.1:9200]

Without --url an osmem-server (the OpenSearch emulator) is started for the run. Documents come from generated
logs through the default pipeline (tf-idf vectors). The raw side gets the documents already built; the store
builds them from the batch (that is part of its cost). Each side writes to a fresh index, best of 3 rounds.
Writes benchmarks/out/opensearch.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from generate_logs import generate
from results import save

HERE = Path(__file__).resolve().parent
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--url")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    from opensearchpy import helpers

    from logvec.config import OpenSearchStoreConfig, load_pipeline
    from logvec.model import Model
    from logvec.records import RawBatch
    from logvec.store.opensearch import OpenSearchStore

    server = None
    url = a.url
    if url is None:
        from logvec.testing.servers import start_osmem

        server = start_osmem()
        url = f"http://{server.address}"
    try:
        config = load_pipeline(HERE.parent / "pipelines" / "default.yaml")
        lines = [line for line, _ in generate(a.records, seed=9)]
        model, records = Model.fit(config, [RawBatch(lines, [f"bench:{i}" for i in range(len(lines))])])
        records.templates = model.miner.templates(records.template_ids)
        vectors = model.vectorizer.transform_unique(records.masked)
        det = model.detect_lines(records, vectors)
        records.scores, records.is_anomaly, records.reasons = det.scores, det.is_anomaly, det.reasons
        raw_best = store_best = float("inf")
        for r in range(a.rounds):
            cfg = OpenSearchStoreConfig(type="opensearch", hosts=[url], index=f"bench-raw-{r}", replicas=0,
                                        refresh_interval="30s")
            raw_store = OpenSearchStore(cfg)
            raw_store.ensure_index(vectors.dim)
            rows = [x.tolist() for x in vectors.rows]
            docs = [{"_index": cfg.index, "_id": records.ids[i],
                     "_source": raw_store._doc(records, i, rows[vectors.index[i]])} for i in range(len(records))]
            t = time.perf_counter()
            helpers.bulk(raw_store.client, docs, chunk_size=cfg.bulk.chunk_size)
            raw_best = min(raw_best, time.perf_counter() - t)

            store = OpenSearchStore(cfg.model_copy(update={"index": f"bench-store-{r}"}))
            store.ensure_index(vectors.dim)
            t = time.perf_counter()
            for start in range(0, len(records), 4096):
                idx = list(range(start, min(start + 4096, len(records))))
                assert store.upsert(records.take(idx), vectors.take(idx)) == []
            store_best = min(store_best, time.perf_counter() - t)
        result = {"server": "osmem-server" if server else url, "records": len(records), "dim": vectors.dim,
                  "raw_helpers_bulk_seconds": round(raw_best, 3), "store_upsert_seconds": round(store_best, 3),
                  "overhead": round(store_best / raw_best - 1.0, 3),
                  "store_docs_per_second": round(len(records) / store_best, 1)}
    finally:
        if server:
            server.stop()
    save("opensearch.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
