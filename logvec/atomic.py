"""Replace a file whole: write beside it, then rename over it. Readers (other workers, the API) see the old
file or the new one, never half of one, and a crash leaves the old one in place."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced(path: str | Path) -> Iterator[Path]:
    """Yields the temporary path to write; it becomes `path` when the block ends without an error. The
    temporary name holds the process id, so processes sharing a directory never write the same one."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
