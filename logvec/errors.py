"""Errors shared across stages."""

from __future__ import annotations

import errno
import sqlite3


class NotFittedError(RuntimeError):
    """A vectorizer or detector used before `fit`."""


# errno values that mean the place logvec writes to cannot take more: full, over quota, over a size limit,
# read-only, failing
_NO_ROOM = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "a file is over the size this process may write", errno.EROFS: "the file system is read-only",
            errno.EIO: "the device reports an I/O error"}
_SQLITE_NO_ROOM = ("database or disk is full", "disk i/o error", "attempt to write a readonly database")


def cannot_write(error: BaseException) -> str | None:
    """One line saying why writing failed when `error` (or what it was raised from) is the storage refusing
    writes (a full disk, a quota, a read-only or failing device); None for any other error, which is a bug to
    show with its traceback."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _NO_ROOM:
            where = f" writing {e.filename}" if e.filename else ""
            return f"{_NO_ROOM[e.errno]}{where} ({e.strerror})"
        if isinstance(e, sqlite3.Error) and any(s in str(e).lower() for s in _SQLITE_NO_ROOM):
            return f"the embedded store could not write: {e}"
        e = e.__cause__ or e.__context__
    return None
