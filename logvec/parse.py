"""Parse raw lines into records: `plain`, `json` (field mapping) or `regex` (named groups).

Every line ends up either as a record or as a dead letter with its reason; nothing is dropped silently.
Blank lines are not records: they are counted (`Parser.blank`) and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import orjson

from logvec.config import ParseConfig
from logvec.deadletter import DeadLetter
from logvec.records import RawBatch, RecordBatch
from logvec.sessions import SessionKeys
from logvec.timeparse import TimestampParser

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
BINARY_CONTROL_RATIO = 0.1


def binary_reason(line: str) -> str | None:
    """Why a decoded line looks like binary junk rather than text, or None."""
    if not _CONTROL.search(line):
        return None
    n = len(_CONTROL.findall(line))
    if "\x00" in line or n / max(len(line), 1) > BINARY_CONTROL_RATIO:
        return f"binary data ({n} control bytes in {len(line)} chars)"
    return None


def _get_path(obj: dict, path: str | None) -> object:
    if not path:
        return None
    node: object = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _kafka_field(message, path: str | None):
    """`kafka.key`, `kafka.timestamp`, `kafka.topic`, `kafka.partition`, `kafka.offset`, `kafka.headers.NAME`
    of a Kafka message (a kafka-python ConsumerRecord); bytes are read as UTF-8."""
    if not path or not path.startswith("kafka."):
        return None
    name, _, header = path[len("kafka."):].partition(".")
    if name == "headers":
        value = next((v for k, v in message.headers or () if k == header), None) if header else None
    elif name in ("key", "timestamp", "topic", "partition", "offset"):
        value = getattr(message, name)
    else:
        return None
    if value is None or isinstance(value, (int, float)):
        return value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Parser:
    """`parse(raw) -> (records, dead_letters)` for one batch."""

    def __init__(self, config: ParseConfig, sessions: SessionKeys | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.patterns = [re.compile(p) for p in config.patterns]
        self.times = TimestampParser(config.timestamp_formats)
        self.blank = 0
        self._parse_one: Callable[[str], tuple | str] = {
            "plain": self._plain,
            "json": self._json,
            "regex": self._regex,
        }[config.type]

    # each returns (message, timestamp, service, level, extra_flag) or a dead-letter reason string
    def _plain(self, line: str) -> tuple | str:
        return line, None, None, None, ""

    def _regex(self, line: str) -> tuple | str:
        for rx in self.patterns:
            m = rx.match(line)
            if m:
                g = m.groupdict()
                return g["message"] or "", g.get("timestamp"), g.get("service"), g.get("level"), ""
        if self.config.on_mismatch == "dead_letter":
            return "no pattern matched"
        return line, None, None, None, "unparsed"

    def _json(self, line: str) -> tuple | str:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            return f"invalid JSON: {e}"
        if not isinstance(obj, dict):
            return f"JSON value is a {type(obj).__name__}, not an object"
        f = self.config.fields
        msg = _get_path(obj, f.message)
        if msg is None:
            if self.config.missing_message == "dead_letter":
                return f"missing field {f.message!r}"
            msg, flag = line, "missing_message"
        else:
            flag = ""
        svc, lvl = _get_path(obj, f.service), _get_path(obj, f.level)
        return (
            msg if isinstance(msg, str) else orjson.dumps(msg).decode(),
            _get_path(obj, f.timestamp),
            None if svc is None else str(svc),
            None if lvl is None else str(lvl),
            flag,
        )

    def parse(self, raw: RawBatch) -> tuple[RecordBatch, list[DeadLetter]]:
        ids, msgs, ts, svcs, lvls, flags, kept, kept_meta = [], [], [], [], [], [], [], []
        dead: list[DeadLetter] = []
        default_service = self.config.service or ""
        parse_one = self._parse_one
        metas = raw.meta if raw.meta is not None else [None] * len(raw.lines)
        fields = self.config.fields
        any_control = _CONTROL.search("".join(raw.lines)) is not None  # binary junk is rare: look once
        for line, origin, flag, meta in zip(raw.lines, raw.origins, raw.flags, metas):
            if not line.strip():
                self.blank += 1
                continue
            why = binary_reason(line) if any_control else None
            if why is None:
                out = parse_one(line)
                if isinstance(out, str):
                    why = out
            if why is not None:
                dead.append(DeadLetter(origin, why + (f" [{flag}]" if flag else ""), line))
                continue
            message, t, svc, lvl, extra = out
            if meta is not None:  # Kafka: fields the line lacks may come from the message's key/headers
                svc = svc or _kafka_field(meta, fields.service)
                lvl = lvl or _kafka_field(meta, fields.level)
            ids.append(origin)
            kept.append(line)
            kept_meta.append(meta)
            msgs.append(message)
            ts.append(t)
            svcs.append(svc or default_service)
            lvls.append(lvl.upper() if lvl else "")
            flags.append(f"{flag},{extra}" if flag and extra else flag or extra)
        epochs = self.times.parse_many(ts)
        if raw.meta is not None:  # Kafka: a line without a time takes the mapped field's, else the message's
            for i in np.flatnonzero(np.isnan(epochs)).tolist():
                mapped = _kafka_field(kept_meta[i], fields.timestamp)
                epochs[i] = self.times.parse_value(mapped if mapped is not None else kept_meta[i].timestamp)
        batch = RecordBatch(ids, msgs, epochs, svcs, lvls, flags)
        if self.sessions is not None:
            batch.sessions = (self.sessions.from_lines(kept) if self.sessions.regex is not None
                              else self.sessions.from_times(batch.timestamps, svcs))
        return batch, dead
