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
    """Appends JSON lines `{"origin", "reason", "raw"}`; `raw` is the line as decoded (cut to `max_raw` chars)."""

    def __init__(self, path: str | Path, max_raw: int = 65536) -> None:
        self.path = Path(path)
        self.max_raw = max_raw
        self.count = 0
        self._lock = threading.Lock()

    def write(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(
            json.dumps({"origin": d.origin, "reason": d.reason, "raw": d.raw[: self.max_raw]}, ensure_ascii=False)
            + "\n"
            for d in letters
        )
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(text)
        self.count += len(letters)

    def read(self) -> list[DeadLetter]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [DeadLetter(**json.loads(line)) for line in f if line.strip()]

    def close(self) -> None:
        pass
