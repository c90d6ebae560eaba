"""An exclusive lock on a file (flock) shared by processes on one machine; the OS releases it when its holder
exits, however it exits, so a crashed worker never leaves a data directory locked."""

from __future__ import annotations

import fcntl
from pathlib import Path


class FileLock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
