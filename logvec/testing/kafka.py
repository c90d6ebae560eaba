"""Kafka helpers for tests and benchmarks: topics, producing and reading back, committed offsets, and
`logvec run` workers on `pipelines/kafka.yaml` (its `${KAFKA_*}` settings come from the environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

LOGVEC = str(Path(sys.executable).parent / "logvec")


def create_topic(bootstrap: str, partitions: int = 3) -> str:
    """A new topic with a unique name."""
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"logs-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    admin.close()
    return name


def produce(bootstrap: str, topic: str, values: list[bytes]) -> dict[int, int]:
    """Send values round-robin over partitions; returns partition -> end offset (highwater)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(topic, value=v) for v in values]
    producer.flush()
    ends: dict[int, int] = {}
    for f in futures:
        md = f.get(timeout=30)
        ends[md.partition] = max(ends.get(md.partition, 0), md.offset + 1)
    producer.close()
    return ends


def record_ids(topic: str, ends: dict[int, int]) -> set[str]:
    """The record id of every message below `ends` (logvec's ids are topic/partition/offset)."""
    return {f"{topic}/{p}/{o}" for p, end in ends.items() for o in range(end)}


def committed(bootstrap: str, group: str, topic: str, partitions) -> dict[int, int | None]:
    """The group's committed offset of each partition (None: never committed)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: c.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        c.close()


def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 30) -> list:
    """Every message of `topic` from the start, once `expect` have come or `timeout` has passed."""
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      consumer_timeout_ms=3000, group_id=None)
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        got.extend(c)
    c.close()
    return got


def start_worker(pipeline: Path, data: Path, bootstrap: str, topic: str, group: str, *extra: str,
                 idle: float | None = 6.0, metrics_port: int | None = None, instance: str = "",
                 log_level: str | None = None) -> subprocess.Popen:
    """`logvec run` on `pipeline` (which reads KAFKA_BOOTSTRAP, KAFKA_TOPIC, KAFKA_GROUP, ... from the
    environment), JSON summary on stdout; `idle`: exit after that many idle seconds."""
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "KAFKA_TOPIC": topic, "KAFKA_GROUP": group,
           "KAFKA_DEAD_LETTER_TOPIC": f"{topic}-dlq", "KAFKA_GROUP_INSTANCE_ID": instance}
    if log_level is not None:
        env["LOGVEC_LOG_LEVEL"] = log_level
    argv = [LOGVEC, "run", "-p", str(pipeline), "-d", str(data), "--format", "json", *extra]
    if idle is not None:
        argv += ["--exit-when-idle", str(idle)]
    if metrics_port is not None:
        argv += ["--metrics-port", str(metrics_port)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
