"""Kafka sinks: the dead-letter topic and the alerts topic. Both flush before the batch's offsets are
committed, so a crash re-sends rather than loses (at-least-once)."""

from __future__ import annotations

import json
import math

from logvec.config import AlertsConfig, KafkaSourceConfig
from logvec.deadletter import DeadLetter
from logvec.metrics import ALERTS
from logvec.records import RecordBatch
from logvec.sources.kafka import client_settings, connect


def _producer(source: KafkaSourceConfig, servers: list[str] | None = None):
    from kafka import KafkaProducer

    settings = client_settings(source, servers)
    return connect(lambda: KafkaProducer(acks="all", retries=5, linger_ms=5, **settings), "producer",
                   settings["bootstrap_servers"])


class KafkaDeadLetters:
    """Each dead letter is one message: the original bytes as value, the reason and the original
    topic/partition/offset in headers (`logvec-reason`, `logvec-origin`, `logvec-topic`, …)."""

    def __init__(self, source: KafkaSourceConfig, topic: str) -> None:
        self.topic = topic
        self.count = 0
        self._producer = _producer(source)

    def write(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        for d in letters:
            headers = [("logvec-reason", d.reason.encode()), ("logvec-origin", d.origin.encode())]
            parts = d.origin.split("/")
            if len(parts) == 3:
                headers += [("logvec-topic", parts[0].encode()), ("logvec-partition", parts[1].encode()),
                            ("logvec-offset", parts[2].encode())]
            value = d.raw_bytes if d.raw_bytes is not None else d.raw.encode("utf-8")
            # keyed by origin: a compacted topic keeps each dead line once however often it is re-read
            self._producer.send(self.topic, key=d.origin.encode(), value=value, headers=headers)
        self._producer.flush()
        self.count += len(letters)

    def read(self) -> list[DeadLetter]:
        return []  # they live in the topic

    def close(self) -> None:
        self._producer.close()


class KafkaAlerts:
    """One JSON message per anomalous record: the record, its score, its reason and structured explanation
    (kind, evidence, nearest normal neighbours with distances)."""

    def __init__(self, config: AlertsConfig, source: KafkaSourceConfig | None) -> None:
        if source is None and config.bootstrap_servers is None:
            raise ValueError("alerts.bootstrap_servers is required when the source is not Kafka")
        servers = config.bootstrap_servers
        servers = [servers] if isinstance(servers, str) else servers
        base = source or KafkaSourceConfig(type="kafka", topics=["-"], bootstrap_servers=servers or [])
        self.topic = config.topic
        self._producer = _producer(base, servers)

    def publish(self, records: RecordBatch) -> int:
        n = 0
        for i in records.is_anomaly.nonzero()[0].tolist():
            ts = records.timestamps[i]
            doc = {
                "id": records.ids[i], "timestamp": None if math.isnan(ts) else ts, "service": records.services[i],
                "level": records.levels[i], "message": records.messages[i], "template": records.templates[i],
                "template_id": int(records.template_ids[i]), "score": float(records.scores[i]),
                "reason": records.reasons[i],
                "anomaly_kinds": [k for k in (records.kinds[i] if records.kinds else "").split(",") if k],
                "explanations": [e.to_dict() for e in records.explanations.get(i, [])],
            }
            self._producer.send(self.topic, key=records.ids[i].encode(), value=json.dumps(doc).encode())
            n += 1
        if n:
            self._producer.flush()
            ALERTS.inc(n)
        return n

    def close(self) -> None:
        self._producer.close()
