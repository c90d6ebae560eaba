"""A fleet's cold start: N workers started together on an empty registry, each with its own data directory.

    python benchmarks/bench_fleet.py [--broker tansu|noida] [--workers 3] [--lines 200000]

Starts a Kafka-protocol broker and osmem-server, produces HDFS_5k (Loghub) repeated to `--lines` to a topic
with one partition per worker, and starts `logvec run -p pipelines/stack.yaml` N times at once (the shipped
settings: warm-up 20,000 lines, batches of 10,000; OpenSearch is the registry and the store). One worker
takes the fit lease, fits and publishes; the others wait and load that version. Reported, in seconds from
the first worker's start: when the fitter read its first line, when the version was published (from the
registry, one-second resolution), when its warm-up ended (its warm-up lines read, fitted, published, stored
and committed: the fit lease released), when each worker read its first line, and when each ended. The goal
(issue 17): every worker processing within warm-up + 10 s. Writes benchmarks/out/fleet-BROKER.json.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import tempfile
import time
from pathlib import Path

from results import save

from logvec.testing.kafka import committed, create_topic, produce, start_worker
from logvec.testing.servers import start_kafka, start_osmem

HERE = Path(__file__).resolve().parent
PIPELINE = HERE.parent / "pipelines" / "stack.yaml"
HDFS = HERE.parent.parent / "shared" / "data" / "hdfs_5k" / "HDFS_5k.log"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default="tansu", choices=["tansu", "noida"])
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="logvec-fleet-"))
    kafka, osmem = start_kafka(args.broker, str(work)), start_osmem(str(work))
    try:
        lines = HDFS.read_bytes().splitlines()
        values = (lines * (args.lines // len(lines) + 1))[:args.lines]
        topic = create_topic(kafka.address, partitions=args.workers)
        ends = produce(kafka.address, topic, values)
        os.environ.update(OPENSEARCH_URL=f"http://{osmem.address}", OPENSEARCH_INDEX="fleet",
                          OPENSEARCH_REPLICAS="0")
        start = time.time()
        procs = [start_worker(PIPELINE, work / f"pod-{i}", kafka.address, topic, "fleet", idle=10)
                 for i in range(args.workers)]
        summaries = []
        for p in procs:
            out, err = p.communicate(timeout=1800)
            if p.returncode:
                raise SystemExit(err.decode()[-3000:])
            summaries.append(json.loads(out))
        from opensearchpy import OpenSearch

        client = OpenSearch(hosts=[f"http://{osmem.address}"])
        client.indices.refresh(index="fleet")
        stored = client.count(index="fleet")["count"]
        group_committed = committed(kafka.address, "fleet", topic, ends)
        client.indices.refresh(index="fleet-models")
        versions = [h["_source"] for h in client.search(index="fleet-models", body={
            "query": {"term": {"kind": "version"}}, "_source": {"excludes": ["data"]}})["hits"]["hits"]]
        published = calendar.timegm(time.strptime(versions[0]["created"], "%Y-%m-%dT%H:%M:%SZ"))
        assert len(versions) == 1 and stored == args.lines, (len(versions), stored)
        fitter = next(s for s in summaries if s["fitted"])
        warmup_end = fitter["model_at"] - start  # its warm-up lines read, fitted, published and stored
        firsts = [s["active_from"] - start for s in summaries]
        result = {
            "broker": args.broker, "workers": args.workers, "lines": args.lines, "versions": len(versions),
            "fitter_first_line_s": round(fitter["active_from"] - start, 2),
            "published_s": round(published - start, 2), "fitter_warmup_end_s": round(warmup_end, 2),
            "first_line_s": [round(x, 2) for x in firsts],
            "ended_s": [round(s["active_until"] - start, 2) for s in summaries],
            "records": [s["records"] for s in summaries], "dead_letters": sum(s["dead_letters"] for s in summaries),
            "documents": stored, "committed_all": group_committed == ends,
            "last_worker_after_warmup_s": round(max(firsts) - warmup_end, 2),
            "goal_met": max(firsts) <= warmup_end + 10,
        }
        print(json.dumps(result, indent=2))
        save(f"fleet-{args.broker}.json", result)
    finally:
        kafka.stop()
        osmem.stop()


if __name__ == "__main__":
    main()
