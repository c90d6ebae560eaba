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
from logvec.sessionkeys import SessionKeys
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


_FIELDS = ("message", "timestamp", "service", "level")
# the instants a datetime can show (years 1 to 9999): a time outside them is kept out of the record, flagged
EARLIEST, LATEST = -62135596800.0, 253402300799.0
_BEFORE_BLANK = re.compile(r"\n(?=[^\S\n]*\n)")  # a line break followed by a blank line
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0E, 0x20), 0x7F])
_NOT_CONTROL_BYTES = bytes(sorted(set(range(256)) - set(_CONTROL_BYTES)))


def has_control_bytes(data: bytes) -> bool:
    """Whether UTF-8 `data` holds a character `_CONTROL` matches (bytes.translate drops all but them; the bytes
    of a multi-byte character are never among them)."""
    return bool(data.translate(None, _NOT_CONTROL_BYTES))


def _has_control(text: str) -> bool:
    """`_CONTROL.search(text) is not None`, several times faster."""
    return has_control_bytes(text.encode("utf-8", "surrogatepass"))


class Parser:
    """`parse(raw) -> (records, dead_letters)` for one batch, a column at a time.

    A regex pattern runs over every line still unmatched with one `map(pattern.match, ...)`, and the fields of
    all its matches are read in one comprehension: per-line Python is kept to what cannot be batched.
    """

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
        """One line (the reference `_regex_columns` must equal)."""
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
        if not isinstance(msg, str):
            try:
                msg = orjson.dumps(msg).decode()
            except orjson.JSONEncodeError as e:  # nested deeper than 255 levels: no message to store
                return f"message field cannot be stored as text: {e}"
        return (
            msg,
            _get_path(obj, f.timestamp),
            None if svc is None else str(svc),
            None if lvl is None else str(lvl),
            flag,
        )

    def _screen(self, lines: list[str], origins: list[str], flags: list[str],
                dead: list[DeadLetter]) -> list[int] | None:
        """The lines worth parsing (None: all of them): blank lines are counted and skipped, binary junk is
        dead-lettered. Both are rare, so they are looked for in the joined batch and only the lines they are
        found in are looked at one by one."""
        text = "\n".join(lines)
        if text.count("\n") != len(lines) - 1:  # lines with line breaks of their own: one by one
            suspects = range(len(lines))
        else:
            found = [m.start() for m in _CONTROL.finditer(text)] if _has_control(text) else []
            # a blank line follows the line break at m.start() - 1 of `text` (the padding's: the first line)
            found += [m.start() - 1 for m in _BEFORE_BLANK.finditer(f"\n{text}\n")]
            if not found:
                return None
            ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)) + 1)
            at = np.searchsorted(ends, found, side="right")  # the line holding each position
            suspects = np.unique(np.minimum(np.concatenate([at, at + 1]), len(lines) - 1)).tolist()
        drop = set()
        for i in suspects:
            line = lines[i]
            if not line.strip():
                self.blank += 1
                drop.add(i)
                continue
            why = binary_reason(line)
            if why is not None:
                dead.append(DeadLetter(origins[i], why + (f" [{flags[i]}]" if flags[i] else ""), line))
                drop.add(i)
        return [i for i in range(len(lines)) if i not in drop] if drop else None

    def _regex_columns(self, lines: list[str]) -> tuple[list, list, list, list, list[str], dict[int, str]]:
        """message, timestamp, service, level, extra flag per line, and the lines refused with their reason."""
        n = len(lines)
        table = np.full((n, len(_FIELDS)), None, dtype=object)  # a column per field
        extra = np.full(n, "", dtype=object)
        todo = np.arange(n)
        for rx in self.patterns:
            if not len(todo):
                break
            subset = lines if len(todo) == n else [lines[i] for i in todo.tolist()]
            matches = list(map(rx.match, subset))
            hit = np.fromiter((m is not None for m in matches), dtype=bool, count=len(matches))
            if not hit.any():
                continue
            fields = [j for j, f in enumerate(_FIELDS) if f in rx.groupindex]  # "message" always is
            groups = [rx.groupindex[_FIELDS[j]] for j in fields] * (1 if len(fields) > 1 else 2)  # -> tuples
            got = np.array([m.group(*groups) for m in matches if m is not None], dtype=object)
            table[np.ix_(todo[hit], fields)] = got[:, :len(fields)]
            todo = todo[~hit]
        refused: dict[int, str] = {}
        if len(todo):
            if self.config.on_mismatch == "dead_letter":
                refused = dict.fromkeys(todo.tolist(), "no pattern matched")
            else:
                table[todo, 0] = [lines[i] for i in todo.tolist()]
                extra[todo] = "unparsed"
        messages = table[:, 0]
        messages[np.equal(messages, np.array(None))] = ""  # an optional message group that did not take part
        return (messages.tolist(), table[:, 1].tolist(), table[:, 2].tolist(), table[:, 3].tolist(),
                extra.tolist(), refused)

    def _line_columns(self, lines: list[str]) -> tuple[list, list, list, list, list[str], dict[int, str]]:
        """As `_regex_columns`, one line at a time (json, plain)."""
        outs = list(map(self._parse_one, lines))
        refused = {i: out for i, out in enumerate(outs) if isinstance(out, str)}
        if refused:  # an empty row stands in for each, so that columns stay aligned with `lines`
            outs = [(None,) * 5 if isinstance(out, str) else out for out in outs]
        columns = [list(c) for c in zip(*outs)] if outs else [[], [], [], [], []]
        return (*columns, refused)  # type: ignore[return-value]

    def parse(self, raw: RawBatch) -> tuple[RecordBatch, list[DeadLetter]]:
        dead: list[DeadLetter] = []
        keep = None if raw.screened else self._screen(raw.lines, raw.origins, raw.flags, dead)
        pick = (lambda col: col) if keep is None else (lambda col: [col[i] for i in keep])  # noqa: E731
        lines, origins, in_flags = pick(raw.lines), pick(raw.origins), pick(raw.flags)
        metas = pick(raw.meta) if raw.meta is not None else None
        columns = self._regex_columns if self.config.type == "regex" else self._line_columns
        msgs, ts, svcs, lvls, extra, refused = columns(lines)
        if refused:
            for i, why in refused.items():
                dead.append(DeadLetter(origins[i], why + (f" [{in_flags[i]}]" if in_flags[i] else ""), lines[i]))
            ok = [i for i in range(len(lines)) if i not in refused]
            lines, origins, in_flags, msgs, ts, svcs, lvls, extra = (
                [col[i] for i in ok] for col in (lines, origins, in_flags, msgs, ts, svcs, lvls, extra))
            metas = [metas[i] for i in ok] if metas is not None else None
        if metas is not None:  # Kafka: fields the line lacks may come from the message's key/headers
            fields = self.config.fields
            for col, path in ((svcs, fields.service), (lvls, fields.level)):
                if path and path.startswith("kafka."):
                    for i in [i for i, v in enumerate(col) if not v]:
                        col[i] = _kafka_field(metas[i], path)
        default_service = self.config.service or ""
        svcs = [s or default_service for s in svcs]
        lvls = [v.upper() if v else "" for v in lvls]
        flags = [f"{a},{b}" if a and b else a or b for a, b in zip(in_flags, extra)]
        epochs = self.times.parse_many(ts)
        if metas is not None:  # Kafka: a line without a time takes the mapped field's, else the message's
            for i in np.flatnonzero(np.isnan(epochs)).tolist():
                mapped = _kafka_field(metas[i], self.config.fields.timestamp)
                epochs[i] = self.times.parse_value(mapped if mapped is not None else metas[i].timestamp)
        with np.errstate(invalid="ignore"):
            beyond = np.flatnonzero((epochs < EARLIEST) | (epochs > LATEST))
        if len(beyond):  # a year before 1 or after 9999 (epoch 1e20, 9999-12-31T23:59:59-14:00): no time
            epochs[beyond] = np.nan
            for i in beyond.tolist():
                flags[i] = f"{flags[i]},bad_timestamp" if flags[i] else "bad_timestamp"
        batch = RecordBatch(list(origins), msgs, epochs, svcs, lvls, flags)
        if self.sessions is not None:
            batch.sessions = (self.sessions.from_lines(lines) if self.sessions.regex is not None
                              else self.sessions.from_times(batch.timestamps, svcs))
        return batch, dead
