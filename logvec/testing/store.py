"""What an embedded store holds, read from outside the process that writes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from logvec.store.local import LocalStore


def stored_ids(data_dir: Path) -> list[str]:
    """Every record id in DATA_DIR/store, read-only (safe while a worker in another process writes)."""
    db = Path(data_dir) / "store" / "records.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
        # a worker creates the file a moment before its tables: until then nothing is stored
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'records'").fetchone():
            return []
        return [r[0] for r in con.execute("SELECT id FROM records")]


def store_stats(data_dir: Path) -> dict:
    """`LocalStore.stats()` of DATA_DIR/store: records, redeliveries (writes beyond each id's first), ..."""
    store = LocalStore(Path(data_dir) / "store")
    try:
        return store.stats()
    finally:
        store.close()
