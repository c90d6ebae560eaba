"""Copies the embedded store's write-ahead log back into its database from a thread of its own.

In WAL mode every commit appends pages to `records.sqlite-wal`, and now and then they must be copied back into
`records.sqlite` (a checkpoint). Left to SQLite, the commit that crosses the threshold does it while it holds
the write lock, and every writer of the directory waits for the copy (a tenth of a second or more per 64 MiB
of log). Here a thread with
its own connection checkpoints instead, in PASSIVE mode, which never blocks writers; sqlite3 lets go of the GIL
while it copies, so the writing process goes on with its next batch meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from logvec.metrics import CHECKPOINTS

log = logging.getLogger("logvec.store")


class Checkpointer:
    """`notify()` after each commit; the log is checkpointed at most every `interval_s` while writes come in.
    The thread starts with the first `notify()` (a store that is only read never starts one)."""

    def __init__(self, db_path: str | Path, interval_s: float = 2.0) -> None:
        self.db_path = Path(db_path)
        self.interval_s = interval_s
        self.checkpoints = 0  # completed PASSIVE checkpoints (tests, debugging; `logvec_store_checkpoints_total`)
        self._written = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="logvec-checkpoint", daemon=True)
            self._thread.start()
        self._written.set()

    def _run(self) -> None:
        db, last, failing = None, time.monotonic(), None
        try:
            while not self._closing.is_set():
                self._written.wait()
                self._written.clear()
                if self._closing.wait(max(0.0, self.interval_s - (time.monotonic() - last))):
                    return
                try:
                    db = db or sqlite3.connect(self.db_path, isolation_level=None, timeout=0)
                    busy, _, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += not busy
                    CHECKPOINTS.labels("busy" if busy else "done").inc()
                    failing = None
                except sqlite3.Error as e:  # locked by another process's checkpoint: next time; else a real fault
                    locked = (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                    CHECKPOINTS.labels("skipped" if locked else "failed").inc()
                    # the writer goes on and its own checkpoint at WAL_SAFETY_PAGES stays a safety net
                    log.log(logging.DEBUG if locked or str(e) == failing else logging.WARNING,
                            "checkpoint of %s failed, tried again after the next write: %s", self.db_path, e)
                    failing = None if locked else str(e)
                    if db is not None and not locked:
                        db.close()
                        db = None
                last = time.monotonic()
        finally:
            if db is not None:
                db.close()

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first; SQLite's own closing does the rest)."""
        self._closing.set()
        self._written.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
