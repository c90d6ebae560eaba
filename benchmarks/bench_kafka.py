"""Kafka: worker throughput next to raw kafka-python consumption of the same topic, and a SIGKILL soak.

    python benchmarks/bench_kafka.py [--broker noida|tansu] [--messages 200000] [--kills 10] [--workers 2]

1. Produces N generated log lines to a 4-partition topic on a local broker started for the run.
2. Raw: a kafka-python consumer in its own group polls the whole topic (no processing): messages/s, the
   better of two runs.
3. logvec: `logvec run --pipeline pipelines/kafka.yaml` (tf-idf, embedded store) on the same topic in a
   new group, until idle: lines/s while busy, and the seconds spent in each stage.
4. Scale-out: `logvec run --workers N` (default 2, one per core) in a new group, on a data directory that
   holds the model step 3 fitted: the topic's lines over the span from the first worker's first line to the
   last one's last stored batch.
5. Soak: a new group and data directory; the worker (static member) is SIGKILLed `--kills` times at random
   moments, restarted each time, then left to finish. Lost = offsets missing from the store (ids are
   topic/partition/offset); redelivered = writes of a stored id beyond its first, counted by the store: a
   batch stored but not yet committed when the worker died is read and stored again (at-least-once delivery,
   idempotent writes: effectively once).
Writes benchmarks/out/kafka-BROKER.json, and the scale-out step's log (INFO: joins, assignments) to
benchmarks/out/kafka-BROKER-workers.log.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import tempfile
import time
from pathlib import Path

from generate_logs import generate
from results import save

from logvec.config import load_pipeline
from logvec.testing.kafka import create_topic, produce, record_ids, start_worker
from logvec.testing.servers import start_kafka
from logvec.testing.store import store_stats, stored_ids

HERE = Path(__file__).resolve().parent


def raw_consume(bootstrap: str, topic: str, n: int, group: str, max_poll_records: int) -> float:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, max_poll_records=max_poll_records, session_timeout_ms=6000)
    got, start = 0, None
    while got < n:
        polled = c.poll(timeout_ms=1000)
        if polled and start is None:
            start = time.perf_counter()
        got += sum(len(v) for v in polled.values())
    elapsed = time.perf_counter() - (start or time.perf_counter())
    c.close()
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="noida", choices=["noida", "tansu"])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="scale-out step: workers sharing the group and data")
    a = ap.parse_args()
    pipeline = HERE.parent / "pipelines" / "kafka.yaml"
    server = start_kafka(a.broker)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            topic = create_topic(server.address, partitions=4)
            values = [line.encode() for line, _ in generate(a.messages, seed=5)]
            ends = produce(server.address, topic, values)
            polls = load_pipeline(pipeline).source.max_poll_records  # the worker's poll size
            raw = max(raw_consume(server.address, topic, len(values), f"bench-raw-{i}", polls) for i in range(2))
            proc = start_worker(pipeline, t / "run", server.address, topic, "bench-logvec", idle=5)
            out, _ = proc.communicate()
            run = json.loads(out)
            assert run["records"] + run["dead_letters"] == len(values), run
            shutil.copytree(t / "run" / "model", t / "group" / "model")
            # INFO: the joins and assignments, to tell why a worker started late
            group = start_worker(pipeline, t / "group", server.address, topic, "bench-group", "--workers",
                                 str(a.workers), idle=8, log_level="INFO")
            out, log = group.communicate()
            together = json.loads(out)
            save(f"kafka-{a.broker}-workers.log", log)
            assert len(set(stored_ids(t / "group"))) + run["dead_letters"] == len(values), together
            span = together["active_seconds"]  # the first worker's first line to the last one's last batch

            data, rng = t / "soak", random.Random(1)
            for _ in range(a.kills):
                w = start_worker(pipeline, data, server.address, topic, "bench-soak", idle=None, instance="soak-0")
                time.sleep(rng.uniform(2.0, 6.0))
                w.send_signal(signal.SIGKILL)
                w.wait()
            final = start_worker(pipeline, data, server.address, topic, "bench-soak", idle=8, instance="soak-0")
            final.communicate()
            ids = stored_ids(data)
            dead = run["dead_letters"]  # the same junk lines are dead letters in both runs
            expected = record_ids(topic, ends)
            result = {
                "broker": a.broker, "messages": len(values),
                "raw_consume_messages_per_second": round(raw, 1),
                "logvec_lines_per_second": run["lines_per_second"],
                "ratio": round(run["lines_per_second"] / raw, 3),
                "logvec_stage_seconds": run["stage_seconds"],
                "workers": a.workers,
                "workers_lines_per_second": round(len(values) / span, 1),
                "workers_ratio": round(len(values) / span / raw, 3),
                "workers_stage_seconds": together["stage_seconds"],  # added up over the workers
                "workers_each": [  # records, and seconds from the first line of the group to its own first and last
                    {"records": w["records"], "from": round(w["active_from"] - together["active_from"], 3),
                     "until": round(w["active_until"] - together["active_from"], 3)} for w in together["each"]],
                "soak_kills": a.kills, "soak_stored": len(ids),
                "soak_lost": len(expected - set(ids)) - dead,
                "soak_redelivered": store_stats(data)["redeliveries"],
            }
    finally:
        server.stop()
    save(f"kafka-{a.broker}.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
