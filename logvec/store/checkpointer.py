"""Copies the embedded store's write-ahead log back into its database from a thread of its own.

In WAL mode every commit appends pages to `records.sqlite-wal`, and now and then they must be copied back into
`records.sqlite` (a checkpoint). Left to SQLite, the commit that crosses the threshold does it while it holds
the write lock: about 0.1-0.2 s per 64 MiB of log during which every writer of the directory waits (measured
on two Kafka workers: the last batch of a 200k-line backfill took 0.23 s instead of 0.03 s). Here a thread with
its own connection checkpoints instead, in PASSIVE mode, which never blocks writers; sqlite3 lets go of the GIL
while it copies, so the writing process goes on with its next batch meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("logvec.store")


class Checkpointer:
    """`notify()` after each commit; the log is checkpointed at most every `interval_s` while writes come in.
    The thread starts with the first `notify()` (a store that is only read never starts one)."""

    def __init__(self, db_path: str | Path, interval_s: float = 2.0) -> None:
        self.db_path = Path(db_path)
        self.interval_s = interval_s
        self.checkpoints = 0  # completed PASSIVE checkpoints (tests, debugging)
        self._written = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="logvec-checkpoint", daemon=True)
            self._thread.start()
        self._written.set()

    def _run(self) -> None:
        db = sqlite3.connect(self.db_path, isolation_level=None, timeout=0)
        try:
            last = time.monotonic()
            while not self._closing.is_set():
                self._written.wait()
                self._written.clear()
                if self._closing.wait(max(0.0, self.interval_s - (time.monotonic() - last))):
                    return
                try:
                    busy, _, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += not busy
                except sqlite3.OperationalError as e:  # another process is checkpointing: next time
                    log.debug("checkpoint skipped: %s", e)
                last = time.monotonic()
        finally:
            db.close()

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first; SQLite's own closing does the rest)."""
        self._closing.set()
        self._written.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
