"""An exclusive lock on a file (flock) shared by processes on one machine; the OS releases it when its holder
exits, however it exits, so a crashed worker never leaves a data directory locked."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


class FileLock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def acquire(self, give_up: Callable[[], bool] | None = None, poll_s: float = 0.1) -> bool:
        """Take the lock, waiting as long as it takes; with `give_up`, look every `poll_s` and return False
        once it says so (a blocking flock would hold a worker through SIGTERM until the holder is done)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = file = open(self.path, "a")
        if give_up is None:
            fcntl.flock(file, fcntl.LOCK_EX)
            return True
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if give_up():
                    file.close()
                    self._file = None
                    return False
                time.sleep(poll_s)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
