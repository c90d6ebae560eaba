"""The dead-letter place: every line logvec cannot use is written here with its reason, never dropped."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class DeadLetter:
    origin: str
    reason: str
    raw: str
    raw_bytes: bytes | None = None  # the original bytes, when they could not be decoded as text


@runtime_checkable
class DeadLetterSink(Protocol):
    """Where dead letters go (a JSON-lines file, a Kafka topic). `write` returns once they are safe, so the
    batch that produced them may be committed."""

    count: int  # letters written by this process

    def write(self, letters: list[DeadLetter]) -> None: ...

    def read(self) -> list[DeadLetter]: ...

    def close(self) -> None: ...


class DeadLetterFile:
    """Appends JSON lines `{"origin", "reason", "raw"}`; `raw` is the line as decoded (cut to `max_raw` chars).
    Keyed by origin, as records are by id: a rerun of the same input adds no letter twice."""

    def __init__(self, path: str | Path, max_raw: int = 65536) -> None:
        self.path = Path(path)
        self.max_raw = max_raw
        self.count = 0
        self._lock = threading.Lock()
        self._origins: set[str] | None = None  # read from the file at the first write

    def write(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        with self._lock:
            if self._origins is None:
                self._origins = {d.origin for d in self.read()}
            fresh = {d.origin: d for d in letters if d.origin not in self._origins}
            if fresh:
                self._append(list(fresh.values()))
                self._origins.update(fresh)
        self.count += len(letters)

    def _append(self, letters: list[DeadLetter]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(
            json.dumps({"origin": d.origin, "reason": d.reason, "raw": d.raw[: self.max_raw]}, ensure_ascii=False)
            + "\n"
            for d in letters
        )
        with self.path.open("a+b") as f:
            if f.tell() and (f.seek(f.tell() - 1), f.read(1))[1] != b"\n":
                text = "\n" + text  # a write cut short before (a full disk): it stays a line of its own
            f.write(text.encode("utf-8"))

    def read(self) -> list[DeadLetter]:
        """Every letter; a line a full disk or a crash cut short is returned as a letter of its own, saying so,
        rather than making the file unreadable."""
        if not self.path.exists():
            return []
        out = []
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(DeadLetter(**json.loads(line)))
                except (ValueError, TypeError):
                    out.append(DeadLetter(f"{self.path}:{n}", "damaged dead-letter entry (a torn write)",
                                          line.rstrip("\n")))
        return out

    def close(self) -> None:
        pass
